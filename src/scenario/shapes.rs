//! `[[region]]` shapes and painting them onto the grid.
//!
//! A cell takes a region's material if its centre is inside the shape; regions are painted in
//! file order, so a later region overwrites an earlier one. Box and layer bounds are half-open
//! (`from ≤ x < to`), so two layers that share a bound never both claim a cell; spheres and
//! cylinders include their surface.

use super::spec::{AxisSpec, RegionSpec, ShapeKind, Text};
use super::{Ctx, ScenarioError};
use crate::problem::Grid;
use crate::units;
use toml::Spanned;

/// A shape in metres from the domain's minimum corner.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Box {
        min: [f64; 3],
        max: [f64; 3],
    },
    Sphere {
        center: [f64; 3],
        radius: f64,
    },
    /// `center` holds the two coordinates across `axis`, in axis order (x before y before z).
    Cylinder {
        axis: usize,
        center: [f64; 2],
        radius: f64,
        from: f64,
        to: f64,
    },
    Layer {
        axis: usize,
        from: f64,
        to: f64,
    },
}

impl Shape {
    /// Whether point `p` (m) is inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match *self {
            Shape::Box { min, max } => (0..3).all(|a| min[a] <= p[a] && p[a] < max[a]),
            Shape::Sphere { center, radius } => {
                (0..3).map(|a| (p[a] - center[a]).powi(2)).sum::<f64>() <= radius * radius
            }
            Shape::Cylinder { axis, center, radius, from, to } => {
                let [u, v] = across(axis);
                let r2 = (p[u] - center[0]).powi(2) + (p[v] - center[1]).powi(2);
                r2 <= radius * radius && from <= p[axis] && p[axis] < to
            }
            Shape::Layer { axis, from, to } => from <= p[axis] && p[axis] < to,
        }
    }
}

/// The two axes across `axis`, in axis order.
fn across(axis: usize) -> [usize; 2] {
    match axis {
        0 => [1, 2],
        1 => [0, 2],
        _ => [0, 1],
    }
}

const AXIS_NAMES: [&str; 3] = ["x", "y", "z"];

/// Reads and checks one region's shape against the domain's extent.
pub fn compile(ctx: &Ctx<'_>, i: usize, r: &RegionSpec, extent: [f64; 3]) -> Result<Shape, ScenarioError> {
    let kind = *r.shape.get_ref();
    let key = |k: &str| format!("region[{i}].{k}");
    let used: &[&str] = match kind {
        ShapeKind::Box => &["min", "max"],
        ShapeKind::Sphere => &["center", "radius"],
        ShapeKind::Cylinder => &["axis", "center", "radius", "from", "to"],
        ShapeKind::Layer => &["axis", "from", "to"],
    };
    let present: [(&str, Option<std::ops::Range<usize>>); 6] = [
        ("axis", r.axis.as_ref().map(|v| v.span())),
        ("from", r.from.as_ref().map(|v| v.span())),
        ("to", r.to.as_ref().map(|v| v.span())),
        ("min", r.min.as_ref().map(|v| v.span())),
        ("max", r.max.as_ref().map(|v| v.span())),
        ("center", r.center.as_ref().map(|v| v.span())),
    ];
    let radius_span = r.radius.as_ref().map(|v| v.span());
    for (name, span) in present.into_iter().chain([("radius", radius_span)]) {
        if let Some(span) = span {
            if !used.contains(&name) {
                return Err(ctx.invalid_span(
                    key(name),
                    span,
                    format!("`{name}` is not used by shape `{}`", kind.name()),
                    format!("for `{}`: {}", kind.name(), used.join(", ")),
                ));
            }
        }
    }
    let missing = |name: &str| {
        ctx.missing(
            key(name),
            r.shape.span(),
            format!("shape `{}` needs `{name}`", kind.name()),
            format!("for `{}`: {}", kind.name(), used.join(", ")),
        )
    };
    let length = |name: &str, v: &Text| ctx.quantity(&key(name), v, units::length, units::LENGTH_UNITS);
    // A coordinate along `axis`: must lie within the domain (a bound far outside is almost
    // always a unit slip, "8 cm" for "8 mm").
    let coordinate = |name: String, v: &Text, axis: usize| -> Result<f64, ScenarioError> {
        let x = ctx.quantity(&name, v, units::length, units::LENGTH_UNITS)?;
        let tol = 1e-9 * extent[axis];
        if x < -tol || x > extent[axis] + tol {
            return Err(ctx.invalid(
                name,
                v,
                format!("outside the domain along {}", AXIS_NAMES[axis]),
                format!("0 to {} (coordinates start at the domain's min corner)", metres(extent[axis])),
            ));
        }
        Ok(x)
    };
    let vector = |name: &str, v: &Spanned<Vec<Text>>, axes: &[usize]| -> Result<Vec<f64>, ScenarioError> {
        if v.get_ref().len() != axes.len() {
            return Err(ctx.invalid_span(
                key(name),
                v.span(),
                format!("{} entries given", v.get_ref().len()),
                format!(
                    "{} lengths, along {}",
                    axes.len(),
                    axes.iter().map(|&a| AXIS_NAMES[a]).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        v.get_ref()
            .iter()
            .zip(axes)
            .enumerate()
            .map(|(j, (x, &a))| coordinate(format!("{}[{j}]", key(name)), x, a))
            .collect()
    };
    let ordered = |from: f64, to: f64, to_text: &Text, what: &str| {
        if to > from {
            Ok(())
        } else {
            Err(ctx.invalid(key(what), to_text, "not above the lower bound", "a bound above `from`/`min`"))
        }
    };
    let positive_radius = |v: &Text| -> Result<f64, ScenarioError> {
        let radius = length("radius", v)?;
        if radius > 0.0 {
            ctx.fits_f32(&key("radius"), v, radius, "m", "", false)
        } else {
            Err(ctx.invalid(key("radius"), v, "a radius must be positive", "a length > 0"))
        }
    };
    let axis = r.axis.as_ref().map(|a| AxisSpec::index(*a.get_ref()));
    let shape = match kind {
        ShapeKind::Box => {
            let (Some(min_t), Some(max_t)) = (&r.min, &r.max) else {
                return Err(missing(if r.min.is_none() { "min" } else { "max" }));
            };
            let min = vector("min", min_t, &[0, 1, 2])?;
            let max = vector("max", max_t, &[0, 1, 2])?;
            for a in 0..3 {
                ordered(min[a], max[a], &max_t.get_ref()[a], &format!("max[{a}]"))?;
            }
            Shape::Box { min: [min[0], min[1], min[2]], max: [max[0], max[1], max[2]] }
        }
        ShapeKind::Sphere => {
            let Some(c) = &r.center else {
                return Err(missing("center"));
            };
            let Some(rt) = &r.radius else {
                return Err(missing("radius"));
            };
            let center = vector("center", c, &[0, 1, 2])?;
            Shape::Sphere { center: [center[0], center[1], center[2]], radius: positive_radius(rt)? }
        }
        ShapeKind::Cylinder | ShapeKind::Layer => {
            let Some(axis) = axis else {
                return Err(missing("axis"));
            };
            let Some(from_t) = &r.from else {
                return Err(missing("from"));
            };
            let Some(to_t) = &r.to else {
                return Err(missing("to"));
            };
            let from = coordinate(key("from"), from_t, axis)?;
            let to = coordinate(key("to"), to_t, axis)?;
            ordered(from, to, to_t, "to")?;
            if kind == ShapeKind::Layer {
                Shape::Layer { axis, from, to }
            } else {
                let Some(c) = &r.center else {
                    return Err(missing("center"));
                };
                let Some(rt) = &r.radius else {
                    return Err(missing("radius"));
                };
                let center = vector("center", c, &across(axis))?;
                Shape::Cylinder { axis, center: [center[0], center[1]], radius: positive_radius(rt)?, from, to }
            }
        }
    };
    Ok(shape)
}

/// Paints `shape` with `material` onto `ids`; returns the number of cells painted.
pub fn paint(grid: &Grid, ids: &mut [u32], shape: &Shape, material: u32) -> usize {
    let [nx, ny, nz] = grid.cells;
    let mut painted = 0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if shape.contains(grid.centre(i, j, k)) {
                    ids[grid.index(i, j, k)] = material;
                    painted += 1;
                }
            }
        }
    }
    painted
}

/// Indices (x fastest, ascending) of the cells whose centre lies inside `shape`.
pub fn cells_inside(grid: &Grid, shape: &Shape) -> Vec<u32> {
    let [nx, ny, nz] = grid.cells;
    let mut cells = Vec::new();
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if shape.contains(grid.centre(i, j, k)) {
                    cells.push(grid.index(i, j, k) as u32);
                }
            }
        }
    }
    cells
}

/// A length for messages, in the largest unit that keeps it ≥ 1.
pub fn metres(x: f64) -> String {
    if x >= 1.0 {
        format!("{x} m")
    } else if x >= 1e-3 {
        format!("{} mm", round6(x * 1e3))
    } else {
        format!("{} um", round6(x * 1e6))
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
