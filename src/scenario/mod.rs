//! Scenario files (being written).

/// Placeholder until the scenario reader lands.
#[derive(Debug, thiserror::Error)]
#[error("scenario files cannot be read yet: {0}")]
pub struct ScenarioError(String);

pub fn load(path: &std::path::Path) -> Result<crate::problem::Problem, ScenarioError> {
    Err(ScenarioError(path.display().to_string()))
}
