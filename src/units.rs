//! Physical quantities written as text (`"105 um^2/s"`, `"33.7 min"`, `"46.6 pg/mL"`) and their
//! conversion to SI.
//!
//! This is the only place where unit text is understood; the scenario layer calls it once per
//! value and hands SI numbers to [`crate::problem`].
//!
//! A quantity is a number followed by a unit: `"<number> <unit>"` (the space may be left out when
//! the unit starts with a letter, `"2d"`). A unit is a product of unit atoms, each with an optional
//! integer power (`^2`, `^-1`, `²`, `³`, `⁻¹`), joined by `*`, `·` or a space; every atom after
//! the first `/` is in the denominator (`mg/mL/h` and `mg/mL h` are both mg·mL⁻¹·h⁻¹). A leading
//! `1` or a bare `/` starts a reciprocal: `1/s`, `/h`. The atoms of a denominator may be put in
//! parentheses, `1/(M*s)` = `1/(M·s)` = `/M/s`; that changes nothing, since they are in the
//! denominator anyway, but it is how rate constants are usually written. Parentheses are refused
//! anywhere else (not nested, not before the first `/`, no `/` or power inside or after them).
//! Atoms are case-sensitive (`mm` is a millimetre, `mM` millimolar, `M` molar).

use crate::problem::ConcentrationUnit;

/// Exponents of the base dimensions length, time, mass and amount of substance.
///
/// Counts (`particles`) are dimensionless, so `particles/mL` and `1/mL` are both length⁻³.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dim {
    pub length: i32,
    pub time: i32,
    pub mass: i32,
    pub amount: i32,
}

impl Dim {
    const fn new(length: i32, time: i32, mass: i32, amount: i32) -> Self {
        Dim { length, time, mass, amount }
    }

    fn mul(self, other: Dim, power: i32) -> Dim {
        Dim {
            length: self.length + power * other.length,
            time: self.time + power * other.time,
            mass: self.mass + power * other.mass,
            amount: self.amount + power * other.amount,
        }
    }

    /// A name for the dimension, used in error messages (`diffusivity (length²/time)`, or the
    /// exponents for combinations without a name).
    pub fn describe(self) -> String {
        for (dim, name) in NAMED_DIMS {
            if self == dim {
                return name.to_string();
            }
        }
        let mut parts = Vec::new();
        for (e, symbol) in [(self.length, "m"), (self.time, "s"), (self.mass, "kg"), (self.amount, "mol")] {
            match e {
                0 => {}
                1 => parts.push(symbol.to_string()),
                _ => parts.push(format!("{symbol}^{e}")),
            }
        }
        if parts.is_empty() { "dimensionless".to_string() } else { format!("SI dimension {}", parts.join("·")) }
    }
}

pub const DIMENSIONLESS: Dim = Dim::new(0, 0, 0, 0);
/// Metres.
pub const LENGTH: Dim = Dim::new(1, 0, 0, 0);
/// Seconds.
pub const TIME: Dim = Dim::new(0, 1, 0, 0);
/// m²/s.
pub const DIFFUSIVITY: Dim = Dim::new(2, -1, 0, 0);
/// 1/s.
pub const RATE: Dim = Dim::new(0, -1, 0, 0);
/// m/s (velocities and mass-transfer coefficients).
pub const VELOCITY: Dim = Dim::new(1, -1, 0, 0);
/// kg/m³.
pub const MASS_CONCENTRATION: Dim = Dim::new(-3, 0, 1, 0);
/// mol/m³.
pub const MOLAR_CONCENTRATION: Dim = Dim::new(-3, 0, 0, 1);
/// 1/m³ (particles per volume).
pub const COUNT_CONCENTRATION: Dim = Dim::new(-3, 0, 0, 0);
/// kg/mol.
pub const MOLAR_MASS: Dim = Dim::new(0, 0, 1, -1);
/// m³/(mol·s): a second-order (association) rate constant, `k_on`.
pub const ASSOCIATION_RATE: Dim = Dim::new(3, -1, 0, -1);
/// kg/(m³·s).
pub const MASS_CONCENTRATION_RATE: Dim = Dim::new(-3, -1, 1, 0);
/// mol/(m³·s).
pub const MOLAR_CONCENTRATION_RATE: Dim = Dim::new(-3, -1, 0, 1);
/// 1/(m³·s).
pub const COUNT_CONCENTRATION_RATE: Dim = Dim::new(-3, -1, 0, 0);

const NAMED_DIMS: [(Dim, &str); 14] = [
    (DIMENSIONLESS, "dimensionless"),
    (LENGTH, "length"),
    (TIME, "time"),
    (DIFFUSIVITY, "diffusivity (length²/time)"),
    (RATE, "rate (1/time)"),
    (VELOCITY, "velocity (length/time)"),
    (MASS_CONCENTRATION, "mass concentration (mass/volume)"),
    (MOLAR_CONCENTRATION, "molar concentration (amount/volume)"),
    (COUNT_CONCENTRATION, "number concentration (count/volume)"),
    (MOLAR_MASS, "molecular weight (mass/amount)"),
    (ASSOCIATION_RATE, "association rate constant (1/(molar concentration·time))"),
    (MASS_CONCENTRATION_RATE, "mass concentration per time"),
    (MOLAR_CONCENTRATION_RATE, "molar concentration per time"),
    (COUNT_CONCENTRATION_RATE, "number concentration per time"),
];

/// Accepted spellings, for error messages.
pub const LENGTH_UNITS: &str = "m, cm, mm, um, µm, μm, nm";
pub const TIME_UNITS: &str = "s, sec, min, h, hr, d, day, days";
pub const DIFFUSIVITY_UNITS: &str = "um^2/s, µm²/s, mm^2/h, cm^2/s, m^2/s (any length²/time)";
pub const RATE_UNITS: &str = "1/s, 1/min, 1/h, /h, h^-1, 1/d (any 1/time)";
pub const VELOCITY_UNITS: &str = "m/s, um/s, mm/h, cm/h (any length/time)";
/// Decay: a half-life or a rate.
pub const DECAY_UNITS: &str =
    "a half-life in s, min, h, d (ln 2 / half-life is the rate) or a rate in 1/s, 1/min, /h, h^-1, 1/d";
pub const CONCENTRATION_UNITS: &str = "mass/volume (pg/mL, ng/mL, ug/L, mg/cm^3, …), molar (M, mM, \
     uM, µM, nM, pM, mol/L, nmol/mL, …) or count/volume (particles/mL, 1/mL)";
pub const MOLAR_MASS_UNITS: &str = "Da, kDa, g/mol, kg/mol";
/// Molar concentrations only (site densities, dissociation constants).
pub const MOLAR_UNITS: &str = "M, mM, uM, µM, nM, pM, mol/L, nmol/mL (any molar concentration)";
/// Association rate constants.
pub const ASSOCIATION_RATE_UNITS: &str =
    "1/(M*s), /M/s, M^-1 s^-1, 1/(nM*h), 1/(uM·min) (any 1/(molar concentration·time))";
/// A concentration per time (maximum uptake rates).
pub const CONCENTRATION_RATE_UNITS: &str =
    "a concentration per time: pg/mL/h, ng/mL/min, nM/s, M/s, particles/mL/h (any concentration/time)";
/// Avogadro's number, 1/mol (exact, SI 2019).
pub const AVOGADRO: f64 = 6.022_140_76e23;

/// What went wrong with a quantity's text. The scenario layer adds the file, key and line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// Empty text, or no number at the start.
    #[error("expected \"<number> <unit>\", found no number")]
    NoNumber,
    /// A number without a unit (`"40"`).
    #[error("the unit is missing")]
    MissingUnit,
    /// The number is not finite (`inf`, `NaN`, or overflows f64).
    #[error("the number is not finite")]
    NotFinite,
    /// A non-zero number that becomes 0 in f64, as written or once converted to SI
    /// (`"1e-400 m"`, `"1e-320 nm"`).
    #[error("too small to represent: the value underflows to 0 in SI units")]
    Underflow,
    /// A piece of the unit is not a known unit.
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    /// The unit text does not follow the grammar (e.g. `m^`, `mm//s`).
    #[error("cannot read the unit `{0}`")]
    BadUnit(String),
    /// A known unit of another dimension than the one the key needs.
    #[error("`{unit}` is a {found}, not a {expected}")]
    WrongDimension { unit: String, found: String, expected: String },
    /// Converting mass ↔ molar concentration needs the species' molecular weight.
    #[error("converting `{from}` to `{to}` needs the species' molecular_weight")]
    NeedsMolecularWeight { from: String, to: String },
    /// A species' unit must be a concentration written as `amount/volume` or molar (`nM`).
    #[error("`{0}` is not a concentration unit of the form amount/volume (pg/mL) or molar (nM)")]
    NotAConcentrationUnit(String),
}

/// A unit: its SI factor (one of it in SI units) and its dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    pub si: f64,
    pub dim: Dim,
}

/// A parsed quantity: the number as written, its unit and the unit's text.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Unit,
    pub unit_text: String,
}

impl Quantity {
    /// The value in SI units.
    pub fn si(&self) -> f64 {
        self.value * self.unit.si
    }

    /// The SI value if the dimension is `want`, else [`UnitError::WrongDimension`].
    pub fn si_as(&self, want: Dim) -> Result<f64, UnitError> {
        if self.unit.dim == want { Ok(self.si()) } else { Err(self.wrong_dimension(&want.describe())) }
    }

    /// A [`UnitError::WrongDimension`] for this quantity.
    pub fn wrong_dimension(&self, expected: &str) -> UnitError {
        UnitError::WrongDimension {
            unit: self.unit_text.clone(),
            found: self.unit.dim.describe(),
            expected: expected.to_string(),
        }
    }
}

/// Kinds of atom, to tell a species unit's amount part from its volume part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtomKind {
    Length,
    Volume,
    Time,
    Mass,
    Amount,
    Molar,
    MolarMass,
    Count,
}

const MICRO: [&str; 3] = ["u", "µ", "μ"];

/// Looks up one unit atom: SI factor, dimension, kind.
fn atom(name: &str) -> Option<(f64, Dim, AtomKind)> {
    use AtomKind::*;
    let (prefix, si) = match name {
        "1" => return Some((1.0, DIMENSIONLESS, Count)),
        "particles" | "particle" | "count" | "counts" => return Some((1.0, DIMENSIONLESS, Count)),
        "s" | "sec" | "secs" | "second" | "seconds" => return Some((1.0, TIME, Time)),
        "min" | "mins" | "minute" | "minutes" => return Some((60.0, TIME, Time)),
        "h" | "hr" | "hrs" | "hour" | "hours" => return Some((3600.0, TIME, Time)),
        "d" | "day" | "days" => return Some((86400.0, TIME, Time)),
        "Da" => return Some((1e-3, MOLAR_MASS, MolarMass)),
        "kDa" => return Some((1.0, MOLAR_MASS, MolarMass)),
        "MDa" => return Some((1e3, MOLAR_MASS, MolarMass)),
        "l" | "L" => return Some((1e-3, Dim::new(3, 0, 0, 0), Volume)),
        _ => split_prefix(name)?,
    };
    let (base_si, dim, kind) = match name.get(prefix.len()..)? {
        "m" => (1.0, LENGTH, Length),
        "g" => (1e-3, Dim::new(0, 0, 1, 0), Mass),
        "mol" => (1.0, Dim::new(0, 0, 0, 1), Amount),
        "M" => (1e3, MOLAR_CONCENTRATION, Molar),
        "L" | "l" => (1e-3, Dim::new(3, 0, 0, 0), Volume),
        _ => return None,
    };
    // Only the prefixes in common use for each base.
    let allowed = match kind {
        Length => ["c", "m", "u", "n"].contains(&prefix) || MICRO.contains(&prefix),
        Mass => ["k", "m", "n", "p", "f"].contains(&prefix) || MICRO.contains(&prefix),
        Amount | Molar => ["m", "n", "p", "f"].contains(&prefix) || MICRO.contains(&prefix),
        Volume => ["m"].contains(&prefix) || MICRO.contains(&prefix),
        _ => false,
    };
    (prefix.is_empty() || allowed).then_some((si * base_si, dim, kind))
}

/// Splits a metric prefix off a unit atom: `("m", 1e-3)` for `mm`; `("", 1)` for `m`.
fn split_prefix(name: &str) -> Option<(&'static str, f64)> {
    const PREFIXES: [(&str, f64); 8] =
        [("k", 1e3), ("c", 1e-2), ("m", 1e-3), ("u", 1e-6), ("µ", 1e-6), ("μ", 1e-6), ("n", 1e-9), ("p", 1e-12)];
    for base in ["mol", "m", "g", "M", "L", "l"] {
        if name == base {
            return Some(("", 1.0));
        }
        if let Some(prefix) = name.strip_suffix(base) {
            if prefix == "f" {
                return Some(("f", 1e-15));
            }
            if let Some(&(p, si)) = PREFIXES.iter().find(|(p, _)| *p == prefix) {
                return Some((p, si));
            }
        }
    }
    None
}

fn superscript_digit(c: char) -> Option<char> {
    Some(match c {
        '⁰' => '0',
        '¹' => '1',
        '²' => '2',
        '³' => '3',
        '⁴' => '4',
        '⁵' => '5',
        '⁶' => '6',
        '⁷' => '7',
        '⁸' => '8',
        '⁹' => '9',
        '⁻' => '-',
        _ => return None,
    })
}

/// One term of a unit expression: an atom and its power.
struct Term<'a> {
    atom: &'a str,
    power: i32,
}

/// Splits unit text into terms; a term after `/` gets its power negated.
fn terms(text: &str) -> Result<Vec<Term<'_>>, UnitError> {
    let bad = || UnitError::BadUnit(text.to_string());
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut divide = false;
    let mut expect_term = true;
    // Inside `( … )` after a `/`; just after its `)` (where only an operator, a space or the
    // end may follow).
    let mut in_group = false;
    let mut group_closed = false;
    while let Some(&(start, c)) = chars.peek() {
        if c == '(' {
            if !(divide && expect_term) || in_group {
                return Err(bad());
            }
            chars.next();
            in_group = true;
            continue;
        }
        if c == ')' {
            if !in_group || expect_term {
                return Err(bad());
            }
            chars.next();
            in_group = false;
            group_closed = true;
            continue;
        }
        if c == '/' {
            if in_group || divide && expect_term && !out.is_empty() {
                return Err(bad());
            }
            chars.next();
            divide = true;
            expect_term = true;
            group_closed = false;
            continue;
        }
        if c == '*' || c == '·' || c.is_whitespace() {
            if expect_term && c != ' ' && !c.is_whitespace() {
                return Err(bad());
            }
            chars.next();
            if !c.is_whitespace() {
                expect_term = true;
            }
            group_closed = false;
            continue;
        }
        if group_closed || !(c.is_alphabetic() || c == '1') {
            return Err(bad());
        }
        let mut end = start;
        if c == '1' {
            chars.next();
            end += 1;
        } else {
            while let Some(&(i, c)) = chars.peek() {
                if c.is_alphabetic() && superscript_digit(c).is_none() {
                    end = i + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
        }
        let name = &text[start..end];
        let mut power_text = String::new();
        if let Some(&(_, '^')) = chars.peek() {
            chars.next();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_digit() || ((c == '-' || c == '+') && power_text.is_empty()) {
                    power_text.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if power_text.is_empty() {
                return Err(bad());
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                match superscript_digit(c) {
                    Some(d) => {
                        power_text.push(d);
                        chars.next();
                    }
                    None => break,
                }
            }
        }
        let power: i32 = if power_text.is_empty() {
            1
        } else {
            match power_text.parse::<i32>() {
                Ok(p) if p.abs() <= 9 => p,
                _ => return Err(bad()),
            }
        };
        out.push(Term { atom: name, power: if divide { -power } else { power } });
        expect_term = false;
    }
    if out.is_empty() || expect_term && divide || in_group {
        return Err(bad());
    }
    Ok(out)
}

/// Parses unit text (`"um^2/s"`, `"pg/mL"`, `"1/h"`) into its SI factor and dimension.
pub fn parse_unit(text: &str) -> Result<Unit, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::MissingUnit);
    }
    let mut si = 1.0;
    let mut dim = DIMENSIONLESS;
    for term in terms(text)? {
        let (factor, d, _) = atom(term.atom).ok_or_else(|| UnitError::UnknownUnit(term.atom.to_string()))?;
        si *= factor.powi(term.power);
        dim = dim.mul(d, term.power);
    }
    Ok(Unit { si, dim })
}

/// Length of the leading number of `text` (sign, digits, decimal point, exponent), 0 if none.
fn number_len(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return 0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

/// Whether the digits before any exponent of a number's text include one that is not 0, i.e.
/// whether the number as written is non-zero.
fn mantissa_is_nonzero(number: &str) -> bool {
    number.bytes().take_while(|&b| b != b'e' && b != b'E').any(|b| (b'1'..=b'9').contains(&b))
}

/// Parses `"<number> <unit>"`.
pub fn parse_quantity(text: &str) -> Result<Quantity, UnitError> {
    let text = text.trim();
    let n = number_len(text);
    if n == 0 {
        return Err(UnitError::NoNumber);
    }
    let value: f64 = text[..n].parse().map_err(|_| UnitError::NoNumber)?;
    if !value.is_finite() {
        return Err(UnitError::NotFinite);
    }
    let unit_text = text[n..].trim();
    if unit_text.is_empty() {
        return Err(UnitError::MissingUnit);
    }
    let unit = parse_unit(unit_text)?;
    if !(value * unit.si).is_finite() {
        return Err(UnitError::NotFinite);
    }
    if value * unit.si == 0.0 && mantissa_is_nonzero(&text[..n]) {
        return Err(UnitError::Underflow);
    }
    Ok(Quantity { value, unit, unit_text: unit_text.to_string() })
}

fn quantity_as(text: &str, want: Dim) -> Result<f64, UnitError> {
    parse_quantity(text)?.si_as(want)
}

/// A length, in metres.
pub fn length(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, LENGTH)
}

/// A time, in seconds.
pub fn time(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, TIME)
}

/// A diffusivity, in m²/s.
pub fn diffusivity(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, DIFFUSIVITY)
}

/// A first-order rate, in 1/s.
pub fn rate(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, RATE)
}

/// A velocity or mass-transfer coefficient, in m/s.
pub fn velocity(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, VELOCITY)
}

/// A molecular weight, in kg/mol (1 kDa = 1 kg/mol).
pub fn molar_mass(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, MOLAR_MASS)
}

/// How first-order decay was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    /// A half-life, in seconds; the rate is ln 2 / half-life.
    HalfLife(f64),
    /// A rate constant, in 1/s.
    Rate(f64),
}

impl Decay {
    /// The rate constant in 1/s (infinite for a zero half-life; negative input stays negative
    /// so the caller can refuse it).
    pub fn rate(self) -> f64 {
        match self {
            Decay::HalfLife(t) => std::f64::consts::LN_2 / t,
            Decay::Rate(k) => k,
        }
    }
}

/// Decay given as a half-life (a time) or as a rate (1/time).
pub fn decay(text: &str) -> Result<Decay, UnitError> {
    let q = parse_quantity(text)?;
    if q.unit.dim == TIME {
        Ok(Decay::HalfLife(q.si()))
    } else if q.unit.dim == RATE {
        Ok(Decay::Rate(q.si()))
    } else {
        Err(q.wrong_dimension("time (a half-life) or rate (1/time)"))
    }
}

/// A species' concentration unit and its dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeciesUnit {
    pub unit: ConcentrationUnit,
    /// [`MASS_CONCENTRATION`], [`MOLAR_CONCENTRATION`] or [`COUNT_CONCENTRATION`].
    pub dim: Dim,
}

/// Reads a species' concentration unit: `amount/volume` (`pg/mL`, `nmol/L`, `particles/mL`,
/// `1/mL`, `ng/cm^3`) or molar (`nM`, amount `nmol` per litre).
pub fn concentration_unit(text: &str) -> Result<SpeciesUnit, UnitError> {
    let text = text.trim();
    let not_conc = || UnitError::NotAConcentrationUnit(text.to_string());
    let terms = terms(text)?;
    let (amount_text, amount_si, amount_dim, volume_si) = match terms.as_slice() {
        [t] if t.power == 1 => {
            let (si, dim, kind) = atom(t.atom).ok_or_else(|| UnitError::UnknownUnit(t.atom.to_string()))?;
            if kind != AtomKind::Molar {
                return Err(not_conc());
            }
            let prefix = &t.atom[..t.atom.len() - 1];
            (format!("{prefix}mol"), si * 1e-3, dim.mul(Dim::new(3, 0, 0, 0), 1), 1e-3)
        }
        [a, v] if a.power == 1 && v.power < 0 => {
            let (a_si, a_dim, a_kind) = atom(a.atom).ok_or_else(|| UnitError::UnknownUnit(a.atom.to_string()))?;
            let (v_si, _, v_kind) = atom(v.atom).ok_or_else(|| UnitError::UnknownUnit(v.atom.to_string()))?;
            let volume_si = match (v_kind, v.power) {
                (AtomKind::Volume, -1) => v_si,
                (AtomKind::Length, -3) => v_si.powi(3),
                _ => return Err(not_conc()),
            };
            let amount_text = match a_kind {
                AtomKind::Mass | AtomKind::Amount => a.atom.to_string(),
                AtomKind::Count if a.atom == "1" => "count".to_string(),
                AtomKind::Count => a.atom.to_string(),
                _ => return Err(not_conc()),
            };
            (amount_text, a_si, a_dim, volume_si)
        }
        _ => return Err(not_conc()),
    };
    let dim = amount_dim.mul(Dim::new(3, 0, 0, 0), -1);
    Ok(SpeciesUnit {
        unit: ConcentrationUnit { text: text.to_string(), amount_text, si: amount_si / volume_si, volume_si },
        dim,
    })
}

/// Converts a concentration to a species' unit. `molar_mass` (kg/mol) is needed only between
/// mass and molar concentrations. Zero is zero in every unit: `"0 pg/mL"` is accepted for a
/// species in nM without a molecular weight, and for a number concentration.
pub fn concentration_in(text: &str, to: &SpeciesUnit, molar_mass: Option<f64>) -> Result<f64, UnitError> {
    let q = parse_quantity(text)?;
    let dim = q.unit.dim;
    if dim != MASS_CONCENTRATION && dim != MOLAR_CONCENTRATION && dim != COUNT_CONCENTRATION {
        return Err(q.wrong_dimension("concentration"));
    }
    convert_concentration(&q, dim, to, molar_mass)
}

/// Converts a concentration per time (`"0.5 pg/mL/h"`, `"2e-12 M/s"`) to a species' unit per
/// second, as [`concentration_in`] converts a concentration (through `molar_mass` between mass
/// and molar units).
pub fn concentration_rate_in(text: &str, to: &SpeciesUnit, molar_mass: Option<f64>) -> Result<f64, UnitError> {
    let q = parse_quantity(text)?;
    // The concentration part: the dimension times a time.
    let dim = q.unit.dim.mul(TIME, 1);
    if q.unit.dim.time != -1 || (dim != MASS_CONCENTRATION && dim != MOLAR_CONCENTRATION && dim != COUNT_CONCENTRATION)
    {
        return Err(q.wrong_dimension("concentration per time"));
    }
    convert_concentration(&q, dim, to, molar_mass)
}

/// The SI value of `q`, whose concentration part has dimension `dim`, in units of `to` (times
/// whatever else `q` carries, e.g. 1/s).
fn convert_concentration(q: &Quantity, dim: Dim, to: &SpeciesUnit, molar_mass: Option<f64>) -> Result<f64, UnitError> {
    if q.value == 0.0 {
        return Ok(0.0);
    }
    let si = q.si();
    let si_in_target_dim = if dim == to.dim {
        si
    } else if dim == COUNT_CONCENTRATION || to.dim == COUNT_CONCENTRATION {
        return Err(q.wrong_dimension(&format!("{} like `{}`", to.dim.describe(), to.unit.text)));
    } else {
        let mw = molar_mass
            .ok_or_else(|| UnitError::NeedsMolecularWeight { from: q.unit_text.clone(), to: to.unit.text.clone() })?;
        if dim == MASS_CONCENTRATION { si / mw } else { si * mw }
    };
    Ok(si_in_target_dim / to.unit.si)
}

/// A molar concentration (site densities, dissociation constants), in mol/m³.
pub fn molar_concentration(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, MOLAR_CONCENTRATION)
}

/// An association rate constant (`"1e5 1/(M*s)"`, `"3.6e-4 1/(nM*h)"`), in m³/(mol·s).
pub fn association_rate(text: &str) -> Result<f64, UnitError> {
    quantity_as(text, ASSOCIATION_RATE)
}

/// Molar concentration (mol/m³) of one `unit`: its SI value for a molar unit, SI value / molar
/// mass for a mass unit with a molecular weight (kg/mol), SI value / Avogadro's number for a
/// number concentration; `None` for a mass unit without a molecular weight.
pub fn molar_per_unit(unit: &SpeciesUnit, molar_mass: Option<f64>) -> Option<f64> {
    let si = unit.unit.si;
    if unit.dim == MOLAR_CONCENTRATION {
        Some(si)
    } else if unit.dim == MASS_CONCENTRATION {
        molar_mass.map(|mw| si / mw)
    } else {
        Some(si / AVOGADRO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    #[test]
    fn lengths() {
        for (text, m) in [
            ("8 mm", 8e-3),
            ("20 um", 20e-6),
            ("20 µm", 20e-6),
            ("20 μm", 20e-6),
            ("1.5 cm", 0.015),
            ("3 m", 3.0),
            ("500 nm", 5e-7),
            ("2mm", 2e-3),
            ("1e-3 m", 1e-3),
            ("-1 mm", -1e-3),
        ] {
            assert!(close(length(text).unwrap(), m), "{text}");
        }
    }

    #[test]
    fn times() {
        for (text, s) in [
            ("0.5 s", 0.5),
            ("3 sec", 3.0),
            ("33.7 min", 2022.0),
            ("1 h", 3600.0),
            ("2 hr", 7200.0),
            ("14 d", 14.0 * 86400.0),
            ("1 day", 86400.0),
            ("2 days", 172800.0),
            ("2d", 172800.0),
        ] {
            assert!(close(time(text).unwrap(), s), "{text}");
        }
    }

    #[test]
    fn diffusivities() {
        for (text, si) in [
            ("105 um^2/s", 105e-12),
            ("105 µm²/s", 105e-12),
            ("105 μm^2/s", 105e-12),
            ("1.04e-6 cm^2/s", 1.04e-10),
            ("3.6e-3 mm^2/h", 1e-12),
            ("1e-10 m^2/s", 1e-10),
            ("1 um^2 s^-1", 1e-12),
            ("1 um²·s⁻¹", 1e-12),
        ] {
            assert!(close(diffusivity(text).unwrap(), si), "{text}");
        }
    }

    #[test]
    fn rates_and_velocities() {
        assert!(close(rate("0.0206 1/min").unwrap(), 0.0206 / 60.0));
        assert!(close(rate("2 /h").unwrap(), 2.0 / 3600.0));
        assert!(close(rate("2 h^-1").unwrap(), 2.0 / 3600.0));
        assert!(close(rate("1 1/d").unwrap(), 1.0 / 86400.0));
        assert!(close(rate("1 1/s").unwrap(), 1.0));
        assert_eq!(rate("0 1/s").unwrap(), 0.0);
        assert!(close(velocity("1e-6 m/s").unwrap(), 1e-6));
        assert!(close(velocity("0.6 um/s").unwrap(), 0.6e-6));
        assert!(close(velocity("3.6 cm/h").unwrap(), 1e-5));
    }

    #[test]
    fn decay_as_half_life_or_rate() {
        let k = decay("33.7 min").unwrap().rate();
        assert!(close(k, std::f64::consts::LN_2 / 2022.0));
        assert!(close(decay("0.0206 1/min").unwrap().rate(), 0.0206 / 60.0));
        assert!(matches!(decay("3 mm"), Err(UnitError::WrongDimension { .. })));
    }

    #[test]
    fn molecular_weights() {
        assert!(close(molar_mass("45 kDa").unwrap(), 45.0));
        assert!(close(molar_mass("352.5 Da").unwrap(), 0.3525));
        assert!(close(molar_mass("352.5 g/mol").unwrap(), 0.3525));
        assert!(close(molar_mass("45 kg/mol").unwrap(), 45.0));
    }

    #[test]
    fn species_units() {
        let u = concentration_unit("pg/mL").unwrap();
        assert_eq!(u.unit.amount_text, "pg");
        assert!(close(u.unit.volume_si, 1e-6));
        assert!(close(u.unit.si, 1e-15 / 1e-6));
        assert_eq!(u.dim, MASS_CONCENTRATION);

        let u = concentration_unit("nM").unwrap();
        assert_eq!(u.unit.amount_text, "nmol");
        assert!(close(u.unit.volume_si, 1e-3));
        assert!(close(u.unit.si, 1e-6));
        assert_eq!(u.dim, MOLAR_CONCENTRATION);

        let u = concentration_unit("µM").unwrap();
        assert_eq!(u.unit.amount_text, "µmol");

        let u = concentration_unit("particles/mL").unwrap();
        assert_eq!(u.unit.amount_text, "particles");
        assert!(close(u.unit.volume_si, 1e-6));
        assert_eq!(u.dim, COUNT_CONCENTRATION);

        let u = concentration_unit("1/mL").unwrap();
        assert_eq!(u.unit.amount_text, "count");

        let u = concentration_unit("ng/cm^3").unwrap();
        assert!(close(u.unit.volume_si, 1e-6));
        assert!(close(u.unit.si, 1e-12 / 1e-6));

        let u = concentration_unit("nmol/L").unwrap();
        assert!(close(u.unit.si, 1e-6));

        for bad in ["mm", "pg", "pg/s", "kDa", "pg/mL/h", "M^2"] {
            assert!(concentration_unit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn concentration_conversion() {
        let pg_ml = concentration_unit("pg/mL").unwrap();
        assert!(close(concentration_in("46.6 pg/mL", &pg_ml, None).unwrap(), 46.6));
        assert!(close(concentration_in("1 ng/mL", &pg_ml, None).unwrap(), 1000.0));
        assert!(close(concentration_in("1 ug/L", &pg_ml, None).unwrap(), 1000.0));
        // 1 nM of a 45 kDa protein is 45 ng/mL.
        assert!(close(concentration_in("1 nM", &pg_ml, Some(45.0)).unwrap(), 45_000.0));
        assert!(close(concentration_in("1 nmol/L", &pg_ml, Some(45.0)).unwrap(), 45_000.0));
        assert!(matches!(concentration_in("1 nM", &pg_ml, None), Err(UnitError::NeedsMolecularWeight { .. })));
        let nm = concentration_unit("nM").unwrap();
        assert!(close(concentration_in("45 ng/mL", &nm, Some(45.0)).unwrap(), 1.0));
        assert!(close(concentration_in("2 pM", &nm, None).unwrap(), 2e-3));
        let per_ml = concentration_unit("particles/mL").unwrap();
        assert!(close(concentration_in("2.8e8 1/mL", &per_ml, None).unwrap(), 2.8e8));
        assert!(close(concentration_in("1 particles/uL", &per_ml, None).unwrap(), 1000.0));
        assert!(concentration_in("1 pg/mL", &per_ml, Some(1.0)).is_err());
        assert!(matches!(concentration_in("1 mm", &pg_ml, None), Err(UnitError::WrongDimension { .. })));
    }

    #[test]
    fn parenthesised_denominators() {
        // 1/(M·s) = 1e-3 m³/(mol·s).
        for text in ["1e5 1/(M*s)", "1e5 1/(M·s)", "1e5 1/(M s)", "1e5 /M/s", "1e5 M^-1 s^-1", "1e5 1/ (M * s)"] {
            assert!(close(association_rate(text).unwrap(), 100.0), "{text}");
        }
        // 1/(nM·h) = 1/(1e-6 mol/m³ · 3600 s).
        assert!(close(association_rate("3.6e-4 1/(nM*h)").unwrap(), 0.1));
        assert!(close(association_rate("1 1/(uM·min)").unwrap(), 1.0 / (1e-3 * 60.0)));
        assert!(close(association_rate("1 1/(M)/s").unwrap(), 1e-3));
        assert!(close(rate("2 1/(h)").unwrap(), 2.0 / 3600.0));
        assert!(close(parse_quantity("1 m^3/(mol*s)").unwrap().si(), 1.0));
        for bad in [
            "1 (M*s)",
            "1 1/(M*s",
            "1 1/M*s)",
            "1 1/()",
            "1 1/(M*)",
            "1 1/((M*s))",
            "1 1/(M*s)^2",
            "1 1/(M*s)²",
            "1 1/(M/s)",
            "1 1/(M)s",
            "1 1(M)",
            "1 M(s)",
            "1 1/(M)(s)",
        ] {
            assert!(matches!(parse_quantity(bad), Err(UnitError::BadUnit(_))), "{bad}: {:?}", parse_quantity(bad));
        }
        let msg = association_rate("1e5 1/s").unwrap_err().to_string();
        assert!(msg.contains("association rate constant"), "{msg}");
    }

    #[test]
    fn concentration_rates() {
        let pg_ml = concentration_unit("pg/mL").unwrap();
        assert!(close(concentration_rate_in("0.5 pg/mL/h", &pg_ml, None).unwrap(), 0.5 / 3600.0));
        assert!(close(concentration_rate_in("3.6 ng/mL/h", &pg_ml, None).unwrap(), 1.0));
        // 1 nM/s of a 45 kDa protein is 45 ng/mL per second.
        assert!(close(concentration_rate_in("1 nM/s", &pg_ml, Some(45.0)).unwrap(), 45_000.0));
        assert!(matches!(concentration_rate_in("1 nM/s", &pg_ml, None), Err(UnitError::NeedsMolecularWeight { .. })));
        let nm = concentration_unit("nM").unwrap();
        assert!(close(concentration_rate_in("2e-12 M/s", &nm, None).unwrap(), 2e-3));
        assert_eq!(concentration_rate_in("0 M/s", &pg_ml, None).unwrap(), 0.0);
        for bad in ["1 pg/mL", "1 1/s", "1 pg/mL/h^2", "1 mm/s"] {
            assert!(matches!(concentration_rate_in(bad, &pg_ml, None), Err(UnitError::WrongDimension { .. })), "{bad}");
        }
    }

    #[test]
    fn molar_values_of_species_units() {
        let nm = concentration_unit("nM").unwrap();
        assert!(close(molar_per_unit(&nm, None).unwrap(), 1e-6));
        let pg_ml = concentration_unit("pg/mL").unwrap();
        assert_eq!(molar_per_unit(&pg_ml, None), None);
        // 1 pg/mL = 1e-9 kg/m³; of a 45 kDa (45 kg/mol) protein, 1e-9/45 mol/m³.
        assert!(close(molar_per_unit(&pg_ml, Some(45.0)).unwrap(), 1e-9 / 45.0));
        let per_ml = concentration_unit("particles/mL").unwrap();
        assert!(close(molar_per_unit(&per_ml, None).unwrap(), 1e6 / AVOGADRO));
        assert!(close(molar_concentration("10 uM").unwrap(), 1e-2));
        assert!(molar_concentration("10 pg/mL").is_err());
    }

    #[test]
    fn zero_needs_no_conversion() {
        let nm = concentration_unit("nM").unwrap();
        let per_ml = concentration_unit("particles/mL").unwrap();
        for zero in ["0 pg/mL", "-0 ng/mL", "0.0 particles/mL", "0e5 mg/L"] {
            assert_eq!(concentration_in(zero, &nm, None).unwrap().to_bits(), 0.0f64.to_bits(), "{zero}");
        }
        assert_eq!(concentration_in("0 nM", &per_ml, None).unwrap(), 0.0);
        assert!(matches!(concentration_in("0 mm", &nm, None), Err(UnitError::WrongDimension { .. })));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse_quantity("40"), Err(UnitError::MissingUnit));
        assert_eq!(parse_quantity(""), Err(UnitError::NoNumber));
        assert_eq!(parse_quantity("mm"), Err(UnitError::NoNumber));
        assert_eq!(parse_quantity("abc mm"), Err(UnitError::NoNumber));
        assert_eq!(parse_quantity("1e999 mm"), Err(UnitError::NotFinite));
        assert_eq!(parse_quantity("1e-400 m"), Err(UnitError::Underflow));
        assert_eq!(parse_quantity("1e-320 nm"), Err(UnitError::Underflow));
        assert_eq!(parse_quantity("0e-400 m").unwrap().si(), 0.0);
        assert_eq!(parse_quantity("0.000 m").unwrap().si(), 0.0);
        assert!(matches!(parse_quantity("nan mm"), Err(UnitError::NoNumber)));
        assert!(matches!(parse_quantity("40 furlongs"), Err(UnitError::UnknownUnit(_))));
        assert!(matches!(parse_quantity("40 km"), Err(UnitError::UnknownUnit(_))));
        assert!(matches!(parse_quantity("40 m^"), Err(UnitError::BadUnit(_))));
        assert!(matches!(parse_quantity("40 m//s"), Err(UnitError::BadUnit(_))));
        assert!(matches!(parse_quantity("40 m/"), Err(UnitError::BadUnit(_))));
        assert!(matches!(parse_quantity("40 m^99"), Err(UnitError::BadUnit(_))));
        assert!(close(rate("41/s").unwrap(), 41.0));
        assert!(matches!(diffusivity("40 mm"), Err(UnitError::WrongDimension { .. })));
        let msg = diffusivity("40 mm").unwrap_err().to_string();
        assert_eq!(msg, "`mm` is a length, not a diffusivity (length²/time)");
        for garbage in ["1 \u{0}", "1 ^^", "1 ²", "1 /", "1 *", "1 m**s", "- mm", ". mm", "1e mm", "1 é"] {
            let _ = parse_quantity(garbage);
            let _ = concentration_unit(garbage);
        }
    }
}
