//! The models the gateway may call, resolved from the config.
//! (Minimal form; the provider work replaces it with the reference's full
//! `models.providers` reading.)

use super::model::ModelApi;

/// Everything needed to call one model of one provider.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub provider: String,
    pub model: String,
    pub api: ModelApi,
    pub base_url: String,
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub max_tokens: Option<u32>,
    pub context_window: Option<u64>,
}

impl core::fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ResolvedModel({}/{})", self.provider, self.model)
    }
}

/// The configured models and the default one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCatalog {
    pub models: Vec<ResolvedModel>,
    /// `agents.defaults.model` (`provider/model`).
    pub default: Option<String>,
}

impl ModelCatalog {
    /// The model `model_ref` names (`provider/model`), or the default.
    pub fn resolve(&self, model_ref: Option<&str>) -> Result<ResolvedModel, String> {
        let wanted = match model_ref.or(self.default.as_deref()) {
            Some(r) => r,
            None => return Err("no model configured: set agents.defaults.model".into()),
        };
        let (provider, model) = wanted
            .split_once('/')
            .ok_or_else(|| format!("model must be provider/model: {wanted}"))?;
        self.models
            .iter()
            .find(|m| m.provider == provider && m.model == model)
            .cloned()
            .ok_or_else(|| format!("Unknown model: {wanted}"))
    }
}
