//! Scenario files: TOML in, a checked [`Problem`] in SI out.
//!
//! The whole file is read, every value converted through [`crate::units`] and checked, and only
//! then compiled into a [`Problem`]; nothing is run or allocated in proportion to the grid before
//! the grid is known to fit in memory. Every refusal is a [`ScenarioError`] naming the file, the
//! key path and, where known, the line. The format is documented key by key in
//! `docs/scenarios.md`.

mod error;
mod flow;
mod library;
mod reactions;
mod shapes;
mod spec;
pub mod threshold;
mod timeline;

pub use error::{InvalidValue, ScenarioError};
pub use shapes::Shape;

use crate::problem::{
    ADI_STEP_COST, Boundary, DEFAULT_TOLERANCE, FACE_NAMES, Grid, Material, Problem, Region, Role, Schedule, Scheme,
    Species, TimeStep,
};
use crate::units::{self, SpeciesUnit, UnitError};
use spec::{BoundaryKind, InitialForm, PerMaterial, RoleSpec, ScenarioFile, SchemeSpec, Text};
use std::ops::Range;
use std::path::Path;

/// Default fraction of the explicit stability limit used for the automatic step.
pub const DEFAULT_SAFETY: f64 = 0.9;
/// Most output times a schedule may have (each one is a reduction and a line of totals).
pub const MAX_OUTPUT_TIMES: usize = 1_000_000;
/// Most cell·species values the engines can index.
pub const MAX_VALUES: u128 = 1 << 31;
/// Most steps a fixed `[time] dt` may need over the run.
pub const MAX_STEPS: f64 = 1e9;
/// Longest species name, in bytes (UTF-8): the name is part of every snapshot's file name,
/// `fields/<name>_t<seconds>s.npy`, and file names end at 255 bytes.
pub const MAX_NAME_BYTES: usize = 100;
/// Smallest positive normal `f32`: the engines hold lengths, times, rates and diffusivities in
/// SI and concentrations in each species' unit as `f32`, and positive values below this are
/// flushed to zero by some engines and kept by others.
pub const F32_MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;
/// Largest finite `f32`.
pub const F32_MAX: f64 = f32::MAX as f64;

/// Reads, checks and compiles the scenario file at `path`.
pub fn load(path: &Path) -> Result<Problem, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read { file: file.clone(), error })?;
    from_str(&text, &file)
}

/// Checks and compiles scenario `text`; `file` is the name used in messages.
///
/// The grid is checked against the memory the machine has available now (MemAvailable in
/// `/proc/meminfo`; no check where that cannot be read).
pub fn from_str(text: &str, file: &str) -> Result<Problem, ScenarioError> {
    from_str_with_memory(text, file, available_memory())
}

/// As [`from_str`], with the available memory (bytes) given instead of read from the system;
/// `None` skips the memory check.
pub fn from_str_with_memory(text: &str, file: &str, available_bytes: Option<u64>) -> Result<Problem, ScenarioError> {
    let ctx = Ctx { file, text };
    let doc = toml::de::DeTable::parse(text).map_err(|e| ctx.syntax(&e))?;
    let spec: ScenarioFile = toml::from_str(text).map_err(|e| ctx.structure(&e, doc.get_ref()))?;
    compile(&ctx, &spec, available_bytes)
}

/// Bytes of memory available to a new allocation (MemAvailable), if the system says.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes a run of this size holds: the engine's buffers
/// ([`crate::solver::engine_memory_bytes`]), the problem's material-id array, and one
/// field of every species on the host (initial values, snapshots).
pub fn memory_needed(cells: [usize; 3], n_species: usize, n_materials: usize, scheme: Scheme) -> u64 {
    let n_cells = cells.iter().map(|&n| n as u64).product::<u64>();
    crate::solver::engine_memory_bytes_for(cells, n_species, n_materials, scheme)
        + 4 * n_cells
        + 4 * n_cells * n_species as u64
}

/// The file being read, for building errors.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> Option<u32> {
        (span.start <= self.text.len()).then(|| error::line_of(self.text, span.start))
    }

    fn syntax(&self, e: &toml::de::Error) -> ScenarioError {
        let pos = e.span().map_or(0, |s| s.start);
        ScenarioError::Syntax {
            file: self.file.to_string(),
            line: error::line_of(self.text, pos),
            column: error::column_of(self.text, pos),
            message: e.message().trim().to_string(),
        }
    }

    /// A serde error (unknown, missing or mistyped key) with the key path found from its span.
    fn structure(&self, e: &toml::de::Error, doc: &toml::de::DeTable<'_>) -> ScenarioError {
        let message = e.message().trim().to_string();
        let span = e.span();
        let mut key = span.as_ref().map(|s| error::key_path_at(doc, s.start)).unwrap_or_default();
        let mut value = span.as_ref().and_then(|s| error::snippet(self.text, s));
        let mut message = message;
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            // The parser gives a missing top-level table the empty span at 0, where the key path
            // would be that of the file's first key.
            if span.as_ref().is_none_or(|s| s.is_empty() && s.start == 0) {
                let table = if field == "material" || field == "species" {
                    format!("[[{field}]] (at least one)")
                } else {
                    format!("table [{field}]")
                };
                return ScenarioError::Structure {
                    file: self.file.to_string(),
                    key: field.to_string(),
                    line: None,
                    value: None,
                    message: format!("missing {table} (see docs/scenarios.md)"),
                };
            }
            key = if key.is_empty() { field.to_string() } else { format!("{key}.{field}") };
            value = None;
            message = format!("missing key `{field}` (see docs/scenarios.md)");
        } else if let Some(rest) = message.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or("");
            if !key.ends_with(field) {
                key = if key.is_empty() { field.to_string() } else { format!("{key}.{field}") };
            }
            value = None;
            message = format!("unknown key: {message}");
        } else if (message.starts_with("invalid type: integer") || message.starts_with("invalid type: floating point"))
            && message.contains("expected a string")
        {
            message.push_str("; values with units are written as text, e.g. \"1.5 mm\"");
        }
        ScenarioError::Structure {
            file: self.file.to_string(),
            key: if key.is_empty() { "(document)".to_string() } else { key },
            line: span.as_ref().and_then(|s| self.line(s)),
            value,
            message,
        }
    }

    fn invalid_span(
        &self,
        key: impl Into<String>,
        span: Range<usize>,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> ScenarioError {
        let value = error::snippet(self.text, &span).unwrap_or_else(|| "(table)".to_string());
        ScenarioError::Invalid(Box::new(InvalidValue {
            file: self.file.to_string(),
            key: key.into(),
            line: self.line(&span),
            value: Some(value),
            problem: problem.into(),
            accepted: accepted.into(),
        }))
    }

    /// A key that is missing: the message names it without a value; `near` (the span of what
    /// needs it) gives the line.
    fn missing(
        &self,
        key: impl Into<String>,
        near: Range<usize>,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid(Box::new(InvalidValue {
            file: self.file.to_string(),
            key: key.into(),
            line: self.line(&near),
            value: None,
            problem: problem.into(),
            accepted: accepted.into(),
        }))
    }

    fn invalid(
        &self,
        key: impl Into<String>,
        v: &Text,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid(Box::new(InvalidValue {
            file: self.file.to_string(),
            key: key.into(),
            line: self.line(&v.span()),
            value: Some(error::quoted(v.get_ref())),
            problem: problem.into(),
            accepted: accepted.into(),
        }))
    }

    fn unit_error(&self, key: &str, v: &Text, e: UnitError, units: &str) -> ScenarioError {
        let accepted = match &e {
            UnitError::NeedsMolecularWeight { .. } => "a concentration in the species' own kind of unit, or give the \
                 species a `molecular_weight`"
                .to_string(),
            _ => format!("\"<number> <unit>\" with unit {units}"),
        };
        self.invalid(key, v, e.to_string(), accepted)
    }

    /// Parses a quantity with `parse`, turning its error into a [`ScenarioError`] for `key`.
    fn quantity<T>(
        &self,
        key: &str,
        v: &Text,
        parse: fn(&str) -> Result<T, UnitError>,
        units: &str,
    ) -> Result<T, ScenarioError> {
        parse(v.get_ref()).map_err(|e| self.unit_error(key, v, e, units))
    }

    /// Checks that `x`, the value of `v` in `unit` (the unit the engines hold it in), is 0 or
    /// an `f32` normal number: finite, at most [`F32_MAX`] and at least [`F32_MIN_NORMAL`] in
    /// magnitude. `what` names the number when it is derived from `v` ("the rate ln 2 / t½");
    /// `zero_ok` says whether 0 is an accepted value of the key, for the message.
    fn fits_f32(
        &self,
        key: &str,
        v: &Text,
        x: f64,
        unit: &str,
        what: &str,
        zero_ok: bool,
    ) -> Result<f64, ScenarioError> {
        if fits_f32(x) {
            return Ok(x);
        }
        let what = if what.is_empty() { String::new() } else { format!("{what} ") };
        let problem = if x.abs() < F32_MIN_NORMAL {
            format!(
                "{what}{} {unit} is too small to represent: below the smallest normal single-precision \
                 number (f32, {F32_MIN_NORMAL:.3e}) the engines hold it in",
                sci(x)
            )
        } else {
            format!(
                "{what}{} {unit} is beyond the single-precision range (f32, at most {F32_MAX:.3e}) the engines hold it in",
                sci(x)
            )
        };
        let zero = if zero_ok { "0 or " } else { "" };
        Err(self.invalid(
            key,
            v,
            problem,
            format!("{zero}a magnitude from {F32_MIN_NORMAL:.3e} to {F32_MAX:.3e} {unit}"),
        ))
    }
}

/// Whether `x` is 0 or an `f32` normal number in magnitude (NaN is not).
fn fits_f32(x: f64) -> bool {
    x == 0.0 || (F32_MIN_NORMAL..=F32_MAX).contains(&x.abs())
}

/// A number for messages, in scientific notation with 4 significant digits.
fn sci(x: f64) -> String {
    if x == 0.0 || !x.is_finite() { x.to_string() } else { format!("{x:.3e}") }
}

/// The engines hold the spacing `h`, `1/h`, `1/h²`, face areas and the cell volume in `f32`
/// (SI): each must be a normal `f32`.
fn check_spacing(ctx: &Ctx<'_>, g: &spec::GridSpec, extent: [f64; 3], cells: [u64; 3]) -> Result<(), ScenarioError> {
    let h = [0, 1, 2].map(|a| extent[a] / cells[a] as f64);
    // 1/h² in the normal range bounds h more tightly than h itself being normal does.
    let (h_min, h_max) = (F32_MAX.sqrt().recip(), F32_MIN_NORMAL.sqrt().recip());
    for a in 0..3 {
        let (key, v) = (format!("grid.size[{a}]"), &g.size.get_ref()[a]);
        if !(h_min..=h_max).contains(&h[a]) {
            return Err(ctx.invalid(
                key,
                v,
                format!(
                    "with {} cells along {} the spacing h = {} m gives 1/h² = {} 1/m², outside the \
                     single-precision range (f32, {F32_MIN_NORMAL:.3e} to {F32_MAX:.3e}) the engines hold it in",
                    cells[a],
                    ["x", "y", "z"][a],
                    sci(h[a]),
                    sci(1.0 / (h[a] * h[a]))
                ),
                format!("a spacing size/cells from {h_min:.3e} m to {h_max:.3e} m"),
            ));
        }
    }
    let cell_volume = h[0] * h[1] * h[2];
    let face_areas = [h[1] * h[2], h[0] * h[2], h[0] * h[1]];
    let derived = std::iter::once(("the cell volume", cell_volume, "m³"))
        .chain(face_areas.iter().map(|&area| ("a cell face's area", area, "m²")));
    for (what, x, unit) in derived {
        if !fits_f32(x) {
            return Err(ctx.invalid_span(
                "grid.size",
                g.size.span(),
                format!(
                    "with cells = {cells:?}, {what} is {} {unit}, outside the single-precision range \
                     (f32, {F32_MIN_NORMAL:.3e} to {F32_MAX:.3e}) the engines hold it in",
                    sci(x)
                ),
                format!("sizes and cells whose {what} (from size/cells) lies in {F32_MIN_NORMAL:.3e} to {F32_MAX:.3e} {unit}"),
            ));
        }
    }
    Ok(())
}

fn names_list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn compile(ctx: &Ctx<'_>, spec: &ScenarioFile, available_bytes: Option<u64>) -> Result<Problem, ScenarioError> {
    let name = spec.scenario.name.get_ref().trim();
    if name.is_empty() {
        return Err(ctx.invalid("scenario.name", &spec.scenario.name, "empty", "a non-empty name"));
    }

    // Materials.
    if spec.material.get_ref().is_empty() {
        return Err(ctx.invalid_span("material", spec.material.span(), "no materials", "at least one [[material]]"));
    }
    let mut materials: Vec<Material> = Vec::new();
    for (i, m) in spec.material.get_ref().iter().enumerate() {
        let n = m.name.get_ref().trim();
        if n.is_empty() {
            return Err(ctx.invalid(format!("material[{i}].name"), &m.name, "empty", "a non-empty name"));
        }
        if let Some(j) = materials.iter().position(|x| x.name == n) {
            return Err(ctx.invalid(
                format!("material[{i}].name"),
                &m.name,
                format!("duplicate: `material[{j}]` has the same name"),
                "each material name once",
            ));
        }
        let role = match m.role {
            RoleSpec::Depot => Role::Depot,
            RoleSpec::Tissue => Role::Tissue,
        };
        materials.push(Material { name: n.to_string(), role });
    }
    let material_names: Vec<String> = materials.iter().map(|m| m.name.clone()).collect();
    let material_id = |key: String, v: &Text| -> Result<usize, ScenarioError> {
        material_names.iter().position(|n| n == v.get_ref().trim()).ok_or_else(|| {
            ctx.invalid(key, v, "no material of this name", format!("one of {}", names_list(&material_names)))
        })
    };

    // Grid.
    let g = &spec.grid;
    if g.size.get_ref().len() != 3 {
        return Err(ctx.invalid_span(
            "grid.size",
            g.size.span(),
            format!("{} entries given", g.size.get_ref().len()),
            "3 lengths, the extents along x, y, z",
        ));
    }
    let mut extent = [0.0; 3];
    for (a, v) in g.size.get_ref().iter().enumerate() {
        let key = format!("grid.size[{a}]");
        extent[a] = ctx.quantity(&key, v, units::length, units::LENGTH_UNITS)?;
        if extent[a] <= 0.0 {
            return Err(ctx.invalid(key, v, "an extent must be positive", "a length > 0"));
        }
        ctx.fits_f32(&key, v, extent[a], "m", "", false)?;
    }
    if g.cells.get_ref().len() != 3 {
        return Err(ctx.invalid_span(
            "grid.cells",
            g.cells.span(),
            format!("{} entries given", g.cells.get_ref().len()),
            "3 whole numbers ≥ 1, the cells along x, y, z",
        ));
    }
    let mut cells = [0u64; 3];
    for (a, c) in g.cells.get_ref().iter().enumerate() {
        if *c.get_ref() < 1 {
            return Err(ctx.invalid_span(
                format!("grid.cells[{a}]"),
                c.span(),
                "fewer than 1 cell",
                "a whole number ≥ 1 (1 makes the axis a slab of the given thickness)",
            ));
        }
        cells[a] = *c.get_ref() as u64;
    }
    let n_species = spec.species.get_ref().len();
    if n_species == 0 {
        return Err(ctx.invalid_span("species", spec.species.span(), "no species", "at least one [[species]]"));
    }
    let cells_line = ctx.line(&g.cells.span());
    // Every species that binds somewhere also has a bound field, indexed after the free ones;
    // counted here from the names in [[binding]] (an upper bound: a binding may compile to no term).
    let mut binding_species: Vec<&str> = spec
        .binding
        .iter()
        .map(|b| b.species.get_ref().trim())
        .filter(|name| spec.species.get_ref().iter().any(|s| s.name.get_ref().trim() == *name))
        .collect();
    binding_species.sort_unstable();
    binding_species.dedup();
    let n_bound = binding_species.len();
    // Saturating: absurd counts must end in the error below, not in an overflow.
    let n_cells_wide = cells.iter().fold(1u128, |acc, &c| acc.saturating_mul(c as u128));
    let values = n_cells_wide.saturating_mul((n_species + n_bound) as u128);
    if values > MAX_VALUES {
        return Err(ScenarioError::TooManyValues {
            file: ctx.file.to_string(),
            line: cells_line,
            cells,
            species: n_species,
            bound: n_bound,
            values,
        });
    }
    check_spacing(ctx, g, extent, cells)?;
    let n_cells = n_cells_wide as usize;
    let (schedule, requested, tolerance) = compile_schedule(ctx, &spec.time)?;
    if let Some(available) = available_bytes {
        let cell_counts = cells.map(|c| c as usize);
        // A bound field is counted as a species (more than it needs: it does not diffuse).
        let needed = memory_needed(cell_counts, n_species + n_bound, materials.len(), schedule.scheme);
        if needed > available {
            return Err(ScenarioError::OutOfMemory {
                file: ctx.file.to_string(),
                line: cells_line,
                cells,
                species: n_species,
                bound: n_bound,
                needed,
                available,
            });
        }
    }
    let cells = cells.map(|c| c as usize);
    let grid = Grid { cells, spacing: [0, 1, 2].map(|a| extent[a] / cells[a] as f64) };
    let default_material = material_id("grid.default_material".to_string(), &g.default_material)?;

    // Time (checked before painting; the step limit is checked once the problem exists).

    // Species (before regions: cheap checks first).
    let mut species = Vec::with_capacity(n_species);
    let mut units_of: Vec<(SpeciesUnit, Option<f64>)> = Vec::with_capacity(n_species);
    // What the scenario leaves to the factor library, a preset or a mesh model is filled in as
    // text first, so that it is read exactly as if written by hand.
    let filled = library::fill_species(ctx, spec)?;
    for (i, (s, sources)) in filled.into_iter().enumerate() {
        let (mut sp, unit) = compile_species(ctx, i, &s, &material_names, species.as_slice(), &grid, schedule.end)?;
        sp.sources = sources;
        if sp.bioactive_threshold.is_none() {
            let factor = s.factor.as_ref().and_then(|f| crate::library::library().factor(f.get_ref()));
            if let Some((c, source)) = factor.and_then(|f| threshold::from_library(f, &unit.0, unit.1)) {
                sp.bioactive_threshold = Some(c);
                sp.sources.push(source);
            }
        }
        if let (Some(ceiling), Some(v)) = (sp.bioactive_ceiling, &s.bioactive_ceiling) {
            match sp.bioactive_threshold {
                Some(threshold) if ceiling > threshold => {}
                threshold => {
                    return Err(ctx.invalid(
                        format!("species[{i}].bioactive_ceiling"),
                        v,
                        match threshold {
                            Some(_) => "the ceiling is not above the bioactive threshold",
                            None => "a ceiling without a bioactive threshold (none given, none in the library)",
                        },
                        format!(
                            "a concentration above the threshold{}",
                            threshold.map(|t| format!(" ({t} {})", sp.unit.text)).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        species.push(sp);
        units_of.push(unit);
    }

    compile_boundaries(ctx, spec, &mut species, &units_of, n_cells)?;
    let known = reactions::Known { materials: &material_names, units_of: &units_of, n_cells, end: schedule.end };
    let (pools, reactions) = reactions::compile(ctx, spec, &known, &mut species)?;

    // Regions.
    let mut shapes = Vec::with_capacity(spec.region.len());
    for (i, r) in spec.region.iter().enumerate() {
        let m = material_id(format!("region[{i}].material"), &r.material)?;
        shapes.push((m, shapes::compile(ctx, i, r, extent)?));
    }
    let mut regions: Vec<Region> = Vec::with_capacity(shapes.len());
    for (i, r) in spec.region.iter().enumerate() {
        let name = match &r.name {
            Some(v) => {
                check_name(ctx, format!("region[{i}].name"), v)?;
                let name = v.get_ref().trim().to_string();
                if regions.iter().any(|other| other.name == name) || material_names.contains(&name) {
                    return Err(ctx.invalid(
                        format!("region[{i}].name"),
                        v,
                        "is already the name of another region or of a material",
                        "a name of its own (materials are regions under their own names already)",
                    ));
                }
                name
            }
            None => format!("region[{i}]"),
        };
        regions.push(Region { name, cells: shapes::cells_inside(&grid, &shapes[i].1) });
    }
    let mut ids = vec![default_material as u32; n_cells];
    for (i, (m, shape)) in shapes.iter().enumerate() {
        if shapes::paint(&grid, &mut ids, shape, *m as u32) == 0 {
            return Err(ctx.invalid_span(
                format!("region[{i}]"),
                spec.region[i].shape.span(),
                "contains no cell centre, so it paints nothing",
                "a shape covering at least one cell centre (refine the grid or enlarge the shape)",
            ));
        }
    }

    let velocity = flow::compile(ctx, spec, &material_names, &grid, schedule.end)?;
    let mut problem = Problem {
        name: name.to_string(),
        grid,
        materials,
        material_id: ids,
        species,
        schedule,
        regions,
        pools,
        reactions,
        timeline: Default::default(),
        metrics: Default::default(),
        velocity,
    };
    timeline::compile(ctx, spec, &units_of, &mut problem)?;
    if requested == SchemeSpec::Auto {
        choose_scheme(&mut problem, tolerance);
    }

    if let (Scheme::ExplicitFtcs, TimeStep::Fixed { dt }, Some(dt_text)) =
        (problem.schedule.scheme, problem.schedule.time_step, &spec.time.dt)
    {
        let limit = problem.explicit_step_limit();
        if dt > limit {
            return Err(ScenarioError::StepTooLarge {
                file: ctx.file.to_string(),
                line: ctx.line(&dt_text.span()),
                value: format!("{:?}", dt_text.get_ref()),
                dt,
                limit,
            });
        }
    }
    Ok(problem)
}

/// Resolves `scheme = "auto"`: the explicit scheme where it is cheaper, the ADI scheme otherwise.
///
/// With a fixed `dt`: explicit if the step is within its stability limit. Otherwise the explicit
/// run needs `end / (safety · limit)` steps, while the adaptive ADI run needs at least one step
/// per output interval, costing [`ADI_STEP_COST`] explicit steps plus one for the pass of its
/// error estimate; the explicit scheme is chosen when it needs no more than that lower bound.
pub fn choose_scheme(problem: &mut Problem, tolerance: Option<f64>) {
    let limit = problem.explicit_step_limit();
    let schedule = &mut problem.schedule;
    match schedule.time_step {
        TimeStep::Fixed { dt } => {
            schedule.scheme = if dt <= limit { Scheme::ExplicitFtcs } else { Scheme::AdiDouglas };
        }
        TimeStep::Auto { safety } => {
            let explicit_steps = schedule.end / (safety * limit);
            let adi_floor = (ADI_STEP_COST + 1.0) * schedule.output_times.len() as f64;
            if explicit_steps <= adi_floor {
                schedule.scheme = Scheme::ExplicitFtcs;
            } else {
                schedule.scheme = Scheme::AdiDouglas;
                schedule.time_step = TimeStep::Adaptive { tolerance: tolerance.unwrap_or(DEFAULT_TOLERANCE) };
            }
        }
        TimeStep::Adaptive { .. } => schedule.scheme = Scheme::AdiDouglas,
    }
}

/// The schedule, the scheme asked for, and the tolerance if one was given.
fn compile_schedule(ctx: &Ctx<'_>, t: &spec::TimeSpec) -> Result<(Schedule, SchemeSpec, Option<f64>), ScenarioError> {
    let positive = |key: &str, v: &Text| -> Result<f64, ScenarioError> {
        let x = ctx.quantity(key, v, units::time, units::TIME_UNITS)?;
        if x > 0.0 { Ok(x) } else { Err(ctx.invalid(key, v, "must be positive", "a time > 0")) }
    };
    let positive_time = |key: &str, v: &Text| ctx.fits_f32(key, v, positive(key, v)?, "s", "", false);
    let end = positive_time("time.end", &t.end)?;
    let out = positive_time("time.output_interval", &t.output_interval)?;
    let steps = (end / out * (1.0 + 1e-12)).floor();
    if steps > MAX_OUTPUT_TIMES as f64 {
        return Err(ctx.invalid(
            "time.output_interval",
            &t.output_interval,
            format!("gives {steps:.0} output times before `time.end`"),
            format!("at most {MAX_OUTPUT_TIMES} output times: a longer interval"),
        ));
    }
    let mut output_times: Vec<f64> = (1..=steps as usize).map(|i| i as f64 * out).collect();
    match output_times.last_mut() {
        Some(last) if (*last - end).abs() <= 1e-9 * end => *last = end,
        _ => output_times.push(end),
    }
    let mut snapshot_times = Vec::new();
    if let Some(snap_text) = &t.snapshot_interval {
        let snap = positive_time("time.snapshot_interval", snap_text)?;
        let ratio = snap / out;
        let every = ratio.round();
        if every < 1.0 || (ratio - every).abs() > 1e-9 * ratio {
            return Err(ctx.invalid(
                "time.snapshot_interval",
                snap_text,
                format!("not a whole multiple of `time.output_interval` ({out} s)"),
                format!("a multiple of {out} s, e.g. {} s", out * every.max(1.0)),
            ));
        }
        let every = every as usize;
        snapshot_times.extend(output_times.iter().enumerate().filter(|(i, _)| (i + 1) % every == 0).map(|(_, &t)| t));
    }
    if snapshot_times.last() != Some(&end) {
        snapshot_times.push(end);
    }

    let requested = t.scheme.as_ref().map_or(SchemeSpec::Auto, |s| *s.get_ref());
    let safety = match &t.safety {
        None => DEFAULT_SAFETY,
        Some(s) => {
            let x = *s.get_ref();
            if !(x > 0.0 && x <= 1.0) {
                return Err(ctx.invalid_span(
                    "time.safety",
                    s.span(),
                    "outside (0, 1]",
                    "a fraction of the stability limit, 0 < safety ≤ 1 (default 0.9)",
                ));
            }
            if requested == SchemeSpec::Adi {
                return Err(ctx.invalid_span(
                    "time.safety",
                    s.span(),
                    "given for the ADI scheme, which has no stability limit",
                    "`tolerance` (adaptive step) or `dt` (fixed step) for scheme = \"adi\"",
                ));
            }
            x
        }
    };
    let tolerance = match &t.tolerance {
        None => None,
        Some(tol) => {
            let x = *tol.get_ref();
            if !(x > 0.0 && x < 1.0) {
                return Err(ctx.invalid_span(
                    "time.tolerance",
                    tol.span(),
                    "outside (0, 1)",
                    "a relative local error per step, 0 < tolerance < 1 (default 1e-3)",
                ));
            }
            if requested == SchemeSpec::Explicit {
                return Err(ctx.invalid_span(
                    "time.tolerance",
                    tol.span(),
                    "given for the explicit scheme, whose step is set by stability",
                    "`safety` or `dt` for scheme = \"explicit\"; `tolerance` with scheme = \"adi\" or \"auto\"",
                ));
            }
            if t.dt.is_some() {
                return Err(ctx.invalid_span(
                    "time.tolerance",
                    tol.span(),
                    "both `dt` and `tolerance` given",
                    "either a fixed `dt` or a `tolerance` for the adaptive step",
                ));
            }
            Some(x)
        }
    };
    let time_step = match &t.dt {
        Some(dt_text) => {
            if t.safety.is_some() {
                return Err(ctx.invalid(
                    "time.dt",
                    dt_text,
                    "both `dt` and `safety` given",
                    "either a fixed `dt` or a `safety` fraction for the automatic step",
                ));
            }
            TimeStep::Fixed { dt: fixed_step(ctx, dt_text, positive("time.dt", dt_text)?, &output_times)? }
        }
        None if requested == SchemeSpec::Adi => {
            TimeStep::Adaptive { tolerance: tolerance.unwrap_or(DEFAULT_TOLERANCE) }
        }
        None => TimeStep::Auto { safety },
    };
    // `auto` is resolved by `choose_scheme` once the problem exists; until then the larger
    // (ADI) footprint is what the memory check counts.
    let scheme = match requested {
        SchemeSpec::Explicit => Scheme::ExplicitFtcs,
        SchemeSpec::Adi | SchemeSpec::Auto => Scheme::AdiDouglas,
    };
    Ok((Schedule { end, output_times, snapshot_times, scheme, time_step }, requested, tolerance))
}

/// Checks a fixed step `dt` (s, > 0): the steps it needs over the run, counted as the run counts
/// them (each output interval takes a whole number of equal steps of at most `dt`), must be at
/// most [`MAX_STEPS`], and `dt` must be an `f32` normal number.
fn fixed_step(ctx: &Ctx<'_>, v: &Text, dt: f64, output_times: &[f64]) -> Result<f64, ScenarioError> {
    let mut steps = 0.0;
    let mut t = 0.0;
    for &t_out in output_times {
        steps += ((t_out - t) / dt * (1.0 - 1e-12)).ceil().max(1.0);
        t = t_out;
    }
    if steps.is_nan() || steps > MAX_STEPS {
        return Err(ctx.invalid(
            "time.dt",
            v,
            format!("the run needs {} steps of it, more than the limit of {MAX_STEPS:e}", sci(steps)),
            format!(
                "a larger `dt`, of about `time.end` / {MAX_STEPS:e} = {} s or more, or scheme = \"adi\" \
                 without `dt` (its adaptive step lengthens where the fields are smooth)",
                sci(output_times.last().copied().unwrap_or(0.0) / MAX_STEPS)
            ),
        ));
    }
    ctx.fits_f32("time.dt", v, dt, "s", "", false)
}

/// Reads a per-material table: every key a material, every material present; `parse` turns
/// text into the SI value (and checks its range).
fn per_material(
    ctx: &Ctx<'_>,
    key: &str,
    table: &PerMaterial,
    materials: &[String],
    required: bool,
    mut parse: impl FnMut(&str, &Text) -> Result<f64, ScenarioError>,
) -> Result<Vec<f64>, ScenarioError> {
    for (m, v) in table.get_ref() {
        if !materials.contains(m) {
            return Err(ctx.invalid(
                format!("{key}.{m}"),
                v,
                format!("no material named `{m}`"),
                format!("keys naming materials: {}", names_list(materials)),
            ));
        }
    }
    let mut out = Vec::with_capacity(materials.len());
    for m in materials {
        let k = format!("{key}.{m}");
        match table.get_ref().get(m) {
            Some(v) => out.push(parse(&k, v)?),
            None if required => {
                return Err(ctx.missing(
                    k,
                    table.span(),
                    format!("no value for material `{m}`"),
                    format!("a value for every material: {}", names_list(materials)),
                ));
            }
            None => out.push(0.0),
        }
    }
    Ok(out)
}

/// Refuses a species or region name that is empty, `all`, longer than [`MAX_NAME_BYTES`] or
/// holds a control character (names are part of file names and of CSV rows).
fn check_name(ctx: &Ctx<'_>, key: String, v: &Text) -> Result<(), ScenarioError> {
    let name = v.get_ref().trim();
    let accepted =
        || format!("a non-empty name other than `all`, of at most {MAX_NAME_BYTES} bytes, without control characters");
    if name.is_empty() || name == "all" {
        return Err(ctx.invalid(key, v, "empty or reserved", accepted()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ctx.invalid(
            key,
            v,
            format!(
                "{} bytes long; the name is part of every snapshot's file name (fields/<name>_t<seconds>s.npy)",
                name.len()
            ),
            accepted(),
        ));
    }
    if name.contains(char::is_control) {
        return Err(ctx.invalid(key, v, "contains a control character", accepted()));
    }
    Ok(())
}

fn compile_species(
    ctx: &Ctx<'_>,
    i: usize,
    s: &spec::SpeciesSpec,
    materials: &[String],
    before: &[Species],
    grid: &Grid,
    end: f64,
) -> Result<(Species, (SpeciesUnit, Option<f64>)), ScenarioError> {
    let key = |k: &str| format!("species[{i}].{k}");
    check_name(ctx, key("name"), &s.name)?;
    let name = s.name.get_ref().trim();
    if let Some(j) = before.iter().position(|x| x.name == name) {
        return Err(ctx.invalid(
            key("name"),
            &s.name,
            format!("duplicate: `species[{j}]` has the same name"),
            "each species name once",
        ));
    }
    let unit = units::concentration_unit(s.unit.get_ref())
        .map_err(|e| ctx.unit_error(&key("unit"), &s.unit, e, units::CONCENTRATION_UNITS))?;
    let molar_mass = match &s.molecular_weight {
        None => None,
        Some(v) => {
            let mw = ctx.quantity(&key("molecular_weight"), v, units::molar_mass, units::MOLAR_MASS_UNITS)?;
            if mw <= 0.0 {
                return Err(ctx.invalid(key("molecular_weight"), v, "must be positive", "a molecular weight > 0"));
            }
            Some(mw)
        }
    };
    let diffusivity_table = required_table(ctx, &key("diffusivity"), &s.diffusivity, s, "diffusivity")?;
    let diffusivity = per_material(ctx, &key("diffusivity"), diffusivity_table, materials, true, |k, v| {
        let d = ctx.quantity(k, v, units::diffusivity, units::DIFFUSIVITY_UNITS)?;
        if d <= 0.0 {
            return Err(ctx.invalid(k, v, "a diffusivity must be positive", "a diffusivity > 0, e.g. \"41 um^2/s\""));
        }
        ctx.fits_f32(k, v, d, "m²/s", "", false)?;
        rate_fits_f32(ctx, k, v, d / grid.spacing.iter().fold(f64::INFINITY, |m, &h| m.min(h)).powi(2), "D/h²", end)?;
        Ok(d)
    })?;
    let decay_table = required_table(ctx, &key("decay"), &s.decay, s, "decay")?;
    let decay_rate = per_material(ctx, &key("decay"), decay_table, materials, true, |k, v| {
        first_order_rate(ctx, k, v, "decay", end)
    })?;
    // Clearance and linear uptake: as decay, but optional, and materials not listed get 0.
    let optional_rate = |name: &str, table: &Option<PerMaterial>| match table {
        None => Ok(vec![0.0; materials.len()]),
        Some(table) => {
            per_material(ctx, &key(name), table, materials, false, |k, v| first_order_rate(ctx, k, v, name, end))
        }
    };
    let clearance_rate = optional_rate("clearance", &s.clearance)?;
    let uptake_rate = optional_rate("uptake", &s.uptake)?;
    // The engines solve the sum of the three.
    for (m, material) in materials.iter().enumerate() {
        let sum = decay_rate[m] + clearance_rate[m] + uptake_rate[m];
        let (table, name) = if uptake_rate[m] > 0.0 {
            (&s.uptake, "uptake")
        } else if clearance_rate[m] > 0.0 {
            (&s.clearance, "clearance")
        } else {
            continue;
        };
        if let Some(v) = table.as_ref().and_then(|t| t.get_ref().get(material)) {
            let k = format!("{}.{material}", key(name));
            let what = "decay + clearance + uptake, the loss rate";
            ctx.fits_f32(&k, v, sum, "1/s", what, true)?;
            rate_fits_f32(ctx, &k, v, sum, what, end)?;
        }
    }
    let n_cells = grid.n_cells();
    let initial = match &s.initial {
        None => vec![0.0; materials.len()],
        Some(table) => per_material(ctx, &key("initial"), table, materials, false, |k, v| {
            concentration(ctx, k, v, &unit, molar_mass, n_cells)
        })?,
    };
    let initial_is_total = s.initial_form.as_ref().is_none_or(|f| *f.get_ref() == InitialForm::Total);
    let species = Species {
        name: name.to_string(),
        unit: unit.unit.clone(),
        diffusivity,
        decay_rate,
        clearance_rate,
        uptake_rate,
        initial,
        initial_is_total,
        molar_per_unit: units::molar_per_unit(&unit, molar_mass),
        boundaries: [Boundary::NoFlux; 6],
        sources: Vec::new(),
        bioactive_threshold: threshold::compile(ctx, i, s, &unit, molar_mass)?,
        bioactive_ceiling: threshold::ceiling(ctx, i, s, &unit, molar_mass)?,
    };
    Ok((species, (unit, molar_mass)))
}

/// A per-material table a species must have (`diffusivity`, `decay`), unless a library `factor`
/// filled it in (see `library.rs`).
fn required_table<'a>(
    ctx: &Ctx<'_>,
    key: &str,
    table: &'a Option<PerMaterial>,
    s: &spec::SpeciesSpec,
    name: &str,
) -> Result<&'a PerMaterial, ScenarioError> {
    table.as_ref().ok_or_else(|| {
        ctx.missing(
            key,
            s.name.span(),
            format!("missing key `{name}` (see docs/scenarios.md)"),
            format!("a table material → value, or `factor = \"<library name>\"` to take it from the library (`secretome factors`)"),
        )
    })
}

/// A first-order rate written as a half-life (> 0; the rate is ln 2 / half-life) or as a rate
/// (≥ 0), in 1/s, checked against the `f32` range; `kind` names it in messages ("decay").
fn first_order_rate(ctx: &Ctx<'_>, k: &str, v: &Text, kind: &str, end: f64) -> Result<f64, ScenarioError> {
    let accepted = "a half-life > 0 (\"33.7 min\") or a rate ≥ 0 (\"0.0206 1/min\", \"0 1/s\")";
    match ctx.quantity(k, v, units::decay, units::DECAY_UNITS)? {
        units::Decay::HalfLife(t) if t <= 0.0 => Err(ctx.invalid(k, v, "a half-life must be positive", accepted)),
        units::Decay::Rate(r) if r < 0.0 => {
            Err(ctx.invalid(k, v, format!("a {kind} rate cannot be negative"), accepted))
        }
        d if !d.rate().is_finite() => Err(ctx.invalid(k, v, "the rate is not finite", accepted)),
        d => {
            let what = if matches!(d, units::Decay::HalfLife(_)) { "the rate ln 2 / half-life" } else { "" };
            ctx.fits_f32(k, v, d.rate(), "1/s", what, true)?;
            rate_fits_f32(ctx, k, v, d.rate(), "the rate", end)
        }
    }
}

/// Checks a rate the engines form from a coefficient (`D/h²` in 1/s, a decay rate) against the
/// `f32` range, and the rate times `time.end`: no step is longer than the run, so this bounds the
/// rate × step products the engines form.
fn rate_fits_f32(ctx: &Ctx<'_>, key: &str, v: &Text, rate: f64, what: &str, end: f64) -> Result<f64, ScenarioError> {
    for (x, name) in [(rate, format!("{what} =")), (rate * end, format!("{what} × `time.end` ="))] {
        if x.is_nan() || x > F32_MAX {
            return Err(ctx.invalid(
                key,
                v,
                format!(
                    "{name} {} is beyond the single-precision range (f32, at most {F32_MAX:.3e}) the engines hold it in",
                    sci(x)
                ),
                format!(
                    "a value with {what} ≤ {} 1/s on this grid over this run",
                    sci(F32_MAX.min(F32_MAX / end))
                ),
            ));
        }
    }
    Ok(rate)
}

/// A concentration ≥ 0 converted to a species' unit: 0 or an `f32` normal number (positive
/// values below f32's normal range are flushed to zero by some engines and kept by others, so
/// the books would differ), small enough that a field of `n_cells` cells at this value sums to a
/// finite `f32`.
fn concentration(
    ctx: &Ctx<'_>,
    key: &str,
    v: &Text,
    unit: &SpeciesUnit,
    molar_mass: Option<f64>,
    n_cells: usize,
) -> Result<f64, ScenarioError> {
    let c = units::concentration_in(v.get_ref(), unit, molar_mass)
        .map_err(|e| ctx.unit_error(key, v, e, units::CONCENTRATION_UNITS))?;
    if c < 0.0 {
        return Err(ctx.invalid(key, v, "a concentration cannot be negative", "a concentration ≥ 0"));
    }
    let u = &unit.unit.text;
    let largest = F32_MAX / n_cells as f64;
    let accepted = || format!("0 or a concentration from {F32_MIN_NORMAL:.3e} to {} {u}", sci(largest));
    if c > 0.0 && c < F32_MIN_NORMAL {
        return Err(ctx.invalid(
            key,
            v,
            format!(
                "{} {u} is too small to represent: below the smallest normal single-precision number \
                 (f32, {F32_MIN_NORMAL:.3e}), which engines flush to zero or keep, so their books would differ",
                sci(c)
            ),
            accepted(),
        ));
    }
    if c.is_nan() || c > largest {
        let problem = if c <= F32_MAX {
            format!(
                "{} {u} over the {n_cells} cells sums to {}, beyond the single-precision range (f32, at most \
                 {F32_MAX:.3e}) the engines add totals in",
                sci(c),
                sci(c * n_cells as f64)
            )
        } else {
            format!(
                "{} {u} is beyond the single-precision range (f32, at most {F32_MAX:.3e}) the engines hold it in",
                sci(c)
            )
        };
        return Err(ctx.invalid(key, v, problem, accepted()));
    }
    Ok(c)
}

fn compile_boundaries(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
    species: &mut [Species],
    units_of: &[(SpeciesUnit, Option<f64>)],
    n_cells: usize,
) -> Result<(), ScenarioError> {
    let species_names: Vec<String> = species.iter().map(|s| s.name.clone()).collect();
    // Which boundary entry (index) set each species' face, to report conflicts.
    let mut set_by: Vec<[Option<usize>; 6]> = vec![[None; 6]; species.len()];
    for (i, b) in spec.boundary.iter().enumerate() {
        let key = |k: &str| format!("boundary[{i}].{k}");
        if b.faces.get_ref().is_empty() {
            return Err(ctx.invalid_span(
                key("faces"),
                b.faces.span(),
                "empty",
                "one or more of xmin xmax ymin ymax zmin zmax",
            ));
        }
        let mut faces = Vec::new();
        for (j, f) in b.faces.get_ref().iter().enumerate() {
            match FACE_NAMES.iter().position(|&n| n == f.get_ref().trim()) {
                Some(face) if !faces.contains(&face) => faces.push(face),
                Some(_) => {
                    return Err(ctx.invalid(
                        format!("{}[{j}]", key("faces")),
                        f,
                        "face listed twice",
                        "each face once",
                    ));
                }
                None => {
                    return Err(ctx.invalid(
                        format!("{}[{j}]", key("faces")),
                        f,
                        "no such face",
                        "xmin, xmax, ymin, ymax, zmin, zmax",
                    ));
                }
            }
        }
        if b.species.get_ref().is_empty() {
            return Err(ctx.invalid_span(key("species"), b.species.span(), "empty", "`all` or species names"));
        }
        let mut targets: Vec<usize> = Vec::new();
        let listed = b.species.get_ref();
        for (j, s) in listed.iter().enumerate() {
            let s_name = s.get_ref().trim();
            let entry = format!("{}[{j}]", key("species"));
            if let Some(first) = listed[..j].iter().position(|x| x.get_ref().trim() == s_name) {
                return Err(ctx.invalid(
                    entry,
                    s,
                    format!("`{s_name}` is listed twice (also `{}[{first}]`)", key("species")),
                    "each species once, or `all` alone",
                ));
            }
            if s_name == "all" {
                targets.extend(0..species.len());
            } else if let Some(p) = species_names.iter().position(|n| n == s_name) {
                targets.push(p);
            } else {
                return Err(ctx.invalid(
                    entry,
                    s,
                    "no species of this name",
                    format!("`all` or one of {}", names_list(&species_names)),
                ));
            }
        }
        if let Some(all) = listed.iter().position(|x| x.get_ref().trim() == "all") {
            if let Some(other) = (0..listed.len()).find(|&j| j != all) {
                return Err(ctx.invalid(
                    format!("{}[{other}]", key("species")),
                    &listed[other],
                    format!(
                        "`{}` is already included by `all` (`{}[{all}]`)",
                        listed[other].get_ref().trim(),
                        key("species")
                    ),
                    "`[\"all\"]` alone, or species names each once",
                ));
            }
        }

        let kind = *b.kind.get_ref();
        let kind_name = match kind {
            BoundaryKind::NoFlux => "no_flux",
            BoundaryKind::Fixed => "fixed",
            BoundaryKind::Clearance => "clearance",
        };
        let unused = |k: &str, v: &Text| {
            ctx.invalid(
                key(k),
                v,
                format!("`{k}` is not used by type `{kind_name}`"),
                "for no_flux: no value or rate; for fixed: value; for clearance: rate and optional value",
            )
        };
        let rate = match (kind, &b.rate) {
            (BoundaryKind::Clearance, Some(v)) => {
                let r = ctx.quantity(&key("rate"), v, units::velocity, units::VELOCITY_UNITS)?;
                if r <= 0.0 {
                    return Err(ctx.invalid(
                        key("rate"),
                        v,
                        "a clearance rate must be positive",
                        "a mass-transfer rate > 0, e.g. \"1 um/s\" (use no_flux for zero)",
                    ));
                }
                ctx.fits_f32(&key("rate"), v, r, "m/s", "", false)?;
                // The engines hold the surface resistance 1/rate.
                ctx.fits_f32(&key("rate"), v, 1.0 / r, "s/m", "the resistance 1/rate", false)?;
                r
            }
            (BoundaryKind::Clearance, None) => {
                return Err(ctx.missing(
                    key("rate"),
                    b.kind.span(),
                    "type `clearance` needs `rate`",
                    "a mass-transfer rate > 0 in length/time, e.g. \"1 um/s\"",
                ));
            }
            (_, Some(v)) => return Err(unused("rate", v)),
            (_, None) => 0.0,
        };
        match (kind, &b.value) {
            (BoundaryKind::Fixed, None) => {
                return Err(ctx.missing(
                    key("value"),
                    b.kind.span(),
                    "type `fixed` needs `value`",
                    "a concentration ≥ 0, e.g. \"0 pg/mL\"",
                ));
            }
            (BoundaryKind::NoFlux, Some(v)) => return Err(unused("value", v)),
            _ => {}
        }
        for &s in &targets {
            let value = match &b.value {
                None => 0.0,
                Some(v) => {
                    let (unit, mw) = &units_of[s];
                    concentration(ctx, &key("value"), v, unit, *mw, n_cells).map_err(|e| match e {
                        ScenarioError::Invalid(mut detail) => {
                            detail.problem = format!("{} (for species `{}`)", detail.problem, species_names[s]);
                            ScenarioError::Invalid(detail)
                        }
                        other => other,
                    })?
                }
            };
            let boundary = match kind {
                BoundaryKind::NoFlux => Boundary::NoFlux,
                BoundaryKind::Fixed => Boundary::Fixed { value },
                BoundaryKind::Clearance => Boundary::Clearance { rate, value },
            };
            for &f in &faces {
                if let Some(prev) = set_by[s][f] {
                    let j = b.faces.get_ref().iter().position(|x| x.get_ref().trim() == FACE_NAMES[f]).unwrap_or(0);
                    let prev_line =
                        ctx.line(&spec.boundary[prev].faces.span()).map_or(String::new(), |l| format!(" (line {l})"));
                    return Err(ctx.invalid(
                        format!("{}[{j}]", key("faces")),
                        &b.faces.get_ref()[j],
                        format!(
                            "face `{}` of species `{}` already has a boundary from `boundary[{prev}]`{prev_line}",
                            FACE_NAMES[f], species_names[s]
                        ),
                        "at most one boundary per face and species (faces given none are no-flux)",
                    ));
                }
                set_by[s][f] = Some(i);
                species[s].boundaries[f] = boundary;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[scenario]
name = "m"
[grid]
size = ["1 mm", "1 mm", "1 mm"]
cells = [10, 1, 1]
default_material = "a"
[time]
end = "25 min"
output_interval = "10 min"
snapshot_interval = "20 min"
[[material]]
name = "a"
role = "tissue"
[[species]]
name = "s"
unit = "nM"
diffusivity = { a = "1 um^2/s" }
decay = { a = "0 1/s" }
"#;

    #[test]
    fn end_not_a_multiple_of_the_output_interval_is_added() {
        let p = from_str_with_memory(MINIMAL, "m.toml", None).unwrap();
        assert_eq!(p.schedule.output_times, vec![600.0, 1200.0, 1500.0]);
        assert_eq!(p.schedule.snapshot_times, vec![1200.0, 1500.0]);
        assert_eq!(p.schedule.time_step, TimeStep::Auto { safety: DEFAULT_SAFETY });
    }

    #[test]
    fn without_snapshot_interval_only_the_end_is_a_snapshot() {
        let text = MINIMAL.replace("snapshot_interval = \"20 min\"\n", "");
        let p = from_str_with_memory(&text, "m.toml", None).unwrap();
        assert_eq!(p.schedule.snapshot_times, vec![1500.0]);
    }

    #[test]
    fn faces_without_a_boundary_are_no_flux() {
        let p = from_str_with_memory(MINIMAL, "m.toml", None).unwrap();
        assert_eq!(p.species[0].boundaries, [Boundary::NoFlux; 6]);
    }

    #[test]
    fn shapes_take_cells_by_their_centre() {
        let layer = Shape::Layer { axis: 1, from: 1.0, to: 2.0 };
        assert!(layer.contains([9.0, 1.0, 9.0]) && !layer.contains([0.0, 2.0, 0.0]));
        let cyl = Shape::Cylinder { axis: 2, center: [0.0, 0.0], radius: 1.0, from: 0.0, to: 1.0 };
        assert!(cyl.contains([0.6, 0.6, 0.5]) && !cyl.contains([0.8, 0.8, 0.5]));
        assert!(!cyl.contains([0.0, 0.0, 1.0]));
        let sphere = Shape::Sphere { center: [0.0; 3], radius: 1.0 };
        assert!(sphere.contains([1.0, 0.0, 0.0]) && !sphere.contains([0.6, 0.6, 0.6]));
    }

    #[test]
    fn key_paths_follow_tables_and_arrays() {
        let text = "[a]\nb = 1\n[[c]]\nd = 2\n[[c]]\ne = { f = \"x\" }\n";
        let doc = toml::de::DeTable::parse(text).unwrap();
        let at = |needle: &str| error::key_path_at(doc.get_ref(), text.find(needle).unwrap());
        assert_eq!(at("b ="), "a.b");
        assert_eq!(at("d ="), "c[0].d");
        assert_eq!(at("\"x\""), "c[1].e.f");
    }
}
