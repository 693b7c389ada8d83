//! The model catalog: which providers and models the config offers, and how
//! a model reference (`provider/model`) becomes a [`ModelRequest`].
//!
//! Read from the config as the reference reads it:
//!
//! - `models.mode`: `"merge"` (default: the built-in providers `openai`,
//!   `anthropic` and `ollama` are offered too, and configured entries with
//!   those ids override them field by field) or `"replace"` (only the
//!   configured providers).
//! - `models.providers.<id>`: `{baseUrl, apiKey, api, headers, maxTokens,
//!   models: [{id, name, reasoning, input, contextWindow, contextTokens,
//!   maxTokens}]}`. Without `api` a provider speaks `openai-completions`.
//! - `apiKey`: a literal key; `${VAR}` or a bare env-var name (`VAR`,
//!   upper-case) for the environment variable's value; or a SecretRef
//!   `{source: "env", id}`. Without one, a built-in provider takes its key
//!   from its environment variables ([`builtin_env_keys`]).
//! - `agents.defaults.model`: `"provider/model"` or `{primary, fallbacks}`.
//! - CLI backends (`claude-cli/…`, `agents.defaults.cliBackends`, a
//!   model's `agentRuntime.id`): see [`super::cli_backend`].
//!
//! The core has no environment: the caller passes a lookup closure.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cli_backend::{CliBackend, CliBackends};
use super::model::{ModelApi, ModelMessage, ModelRequest};

/// Where the built-in `openai` provider is.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Where the built-in `anthropic` provider is (the client adds `/v1/messages`).
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Where the built-in `ollama` provider is (the native API, no `/v1`).
pub const OLLAMA_DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// The provider of a model given without one, and of the default model.
pub const DEFAULT_PROVIDER: &str = "openai";
/// The model used when the config names none and lists none.
pub const DEFAULT_MODEL: &str = "gpt-6-astra";

/// The API and base URL of a built-in provider id.
pub fn builtin_provider(id: &str) -> Option<(ModelApi, &'static str)> {
    match id {
        "openai" => Some((ModelApi::OpenAiCompletions, OPENAI_DEFAULT_BASE_URL)),
        "anthropic" => Some((ModelApi::AnthropicMessages, ANTHROPIC_DEFAULT_BASE_URL)),
        "ollama" => Some((ModelApi::Ollama, OLLAMA_DEFAULT_BASE_URL)),
        _ => None,
    }
}

/// The environment variables a built-in provider's key is read from, first
/// set wins (the reference's list, less `ANTHROPIC_OAUTH_TOKEN`: an OAuth
/// token needs a bearer login this client does not do).
pub fn builtin_env_keys(id: &str) -> &'static [&'static str] {
    match id {
        "openai" => &["CODEX_API_KEY", "OPENAI_API_KEY"],
        "anthropic" => &["ANTHROPIC_API_KEY"],
        "ollama" => &["OLLAMA_API_KEY"],
        _ => &[],
    }
}

/// One model entry of a provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    /// Display name (the id when the config names none).
    pub name: String,
    pub reasoning: Option<bool>,
    /// Input modalities (`["text"]`, `["text","image"]`).
    pub input: Vec<String>,
    pub context_window: Option<u64>,
    pub context_tokens: Option<u64>,
    pub max_tokens: Option<u32>,
}

/// One provider, its key resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderEntry {
    pub id: String,
    pub api: ModelApi,
    pub base_url: String,
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Default output cap for models that set none.
    pub max_tokens: Option<u32>,
    pub models: Vec<ModelEntry>,
}

/// Keeps keys and header values (which may carry credentials) out of logs.
impl core::fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProviderEntry")
            .field("id", &self.id)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("max_tokens", &self.max_tokens)
            .field("models", &self.models)
            .finish()
    }
}

/// Everything needed to call one model, but the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The provider id (`fake` in `fake/echo`).
    pub provider: String,
    /// The provider's model id (`echo`).
    pub model: String,
    /// The model's entry when the config lists it.
    pub entry: Option<ModelEntry>,
    /// The provider, key included (its `Debug` hides it).
    pub route: ProviderEntry,
    /// The command that answers instead of `route`, for a CLI backend.
    pub cli: Option<CliBackend>,
}

impl ResolvedModel {
    /// `provider/model`.
    pub fn model_ref(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    /// The output cap: the model's, else the provider's.
    pub fn max_tokens(&self) -> Option<u32> {
        self.entry
            .as_ref()
            .and_then(|e| e.max_tokens)
            .or(self.route.max_tokens)
    }

    /// The context budget the reference reports (`contextTokens`, else
    /// `contextWindow`).
    pub fn context_tokens(&self) -> Option<u64> {
        let entry = self.entry.as_ref()?;
        entry.context_tokens.or(entry.context_window)
    }

    /// The request for one turn of this model.
    pub fn request(&self, system: String, messages: Vec<ModelMessage>) -> ModelRequest {
        ModelRequest {
            api: self.route.api,
            base_url: self.route.base_url.clone(),
            api_key: self.route.api_key.clone(),
            headers: self.route.headers.clone(),
            model: self.model.clone(),
            max_tokens: self.max_tokens(),
            system,
            messages,
            tools: Vec::new(),
            cli: self.cli.clone(),
        }
    }
}

/// The providers and default model of a config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCatalog {
    providers: BTreeMap<String, ProviderEntry>,
    primary: Option<String>,
    fallbacks: Vec<String>,
    /// What the config had that could not be used (unknown `api`, …).
    warnings: Vec<String>,
    cli: CliBackends,
}

impl ModelCatalog {
    /// The catalog of a whole config document (`models` and
    /// `agents.defaults.model` are read), keys looked up with `env`.
    pub fn from_config(config: &Value, env: &dyn Fn(&str) -> Option<String>) -> ModelCatalog {
        let mut catalog = ModelCatalog::default();
        catalog.cli = CliBackends::from_config(config, &mut catalog.warnings);
        let models = config.get("models").unwrap_or(&Value::Null);
        let replace = models.get("mode").and_then(Value::as_str) == Some("replace");
        if !replace {
            for id in ["openai", "anthropic", "ollama"] {
                if let Some((api, base_url)) = builtin_provider(id) {
                    let entry = ProviderEntry {
                        id: id.to_string(),
                        api,
                        base_url: builtin_base_url(id, base_url, env),
                        api_key: env_key(id, env),
                        headers: Vec::new(),
                        max_tokens: None,
                        models: Vec::new(),
                    };
                    catalog.providers.insert(id.to_string(), entry);
                }
            }
        }
        if let Some(providers) = models.get("providers").and_then(Value::as_object) {
            for (id, raw) in providers {
                match provider_from(id, raw, env) {
                    Ok(entry) => {
                        catalog.providers.insert(id.clone(), entry);
                    }
                    Err(warning) => catalog.warnings.push(warning),
                }
            }
        }
        match config.pointer("/agents/defaults/model") {
            Some(Value::String(primary)) => catalog.primary = non_blank(primary),
            Some(Value::Object(selection)) => {
                catalog.primary = selection
                    .get("primary")
                    .and_then(Value::as_str)
                    .and_then(non_blank);
                catalog.fallbacks = selection
                    .get("fallbacks")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .filter_map(non_blank)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            _ => {}
        }
        catalog
    }

    /// The default model reference, as the reference picks it:
    /// `agents.defaults.model`; else, unless the `openai` provider lists
    /// [`DEFAULT_MODEL`], the first model a configured provider lists (by
    /// provider id: the config's own key order is not kept); else
    /// `openai/gpt-6-astra`.
    pub fn default_model(&self) -> String {
        if let Some(primary) = &self.primary {
            return match primary.contains('/') {
                true => primary.clone(),
                false => format!("{}/{primary}", self.provider_of_bare(primary)),
            };
        }
        let default_listed = self
            .providers
            .get(DEFAULT_PROVIDER)
            .is_some_and(|p| p.models.iter().any(|m| m.id == DEFAULT_MODEL));
        let first_listed = self.providers.values().find_map(|provider| {
            provider
                .models
                .first()
                .map(|model| format!("{}/{}", provider.id, model.id))
        });
        match first_listed {
            Some(first) if !default_listed => first,
            _ => format!("{DEFAULT_PROVIDER}/{DEFAULT_MODEL}"),
        }
    }

    /// The provider of a model id given without one: the one provider that
    /// lists it, else [`DEFAULT_PROVIDER`] (the reference warns and does so).
    fn provider_of_bare(&self, model: &str) -> &str {
        let mut owners = self
            .providers
            .values()
            .filter(|p| p.models.iter().any(|m| m.id == model));
        match (owners.next(), owners.next()) {
            (Some(owner), None) => &owner.id,
            _ => DEFAULT_PROVIDER,
        }
    }

    /// `agents.defaults.model.fallbacks`, in order.
    pub fn fallbacks(&self) -> &[String] {
        &self.fallbacks
    }

    /// What the config had that this catalog could not use.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The ids of the configured providers, in id order.
    pub fn provider_ids(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderEntry> {
        self.providers.get(id)
    }

    /// Resolve `provider/model` (the default model when `None`). A bare
    /// model id is looked up among the listed models. A provider may be
    /// asked for a model it does not list (as the reference allows in
    /// merge mode); the provider then decides.
    pub fn resolve(&self, model_ref: Option<&str>) -> Result<ResolvedModel, String> {
        let wanted = match model_ref.map(str::trim).filter(|r| !r.is_empty()) {
            Some(wanted) => wanted.to_string(),
            None => self.default_model(),
        };
        let (provider, model) = match wanted.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                (provider.to_string(), model.to_string())
            }
            Some(_) => return Err(format!("model \"{wanted}\" is not provider/model")),
            None => (self.provider_of_bare(&wanted).to_string(), wanted.clone()),
        };
        if let Some(cli) = self.cli.backend_for(&provider, &model) {
            return Ok(self.cli_model(provider, model, cli));
        }
        let route = self.providers.get(&provider).ok_or_else(|| {
            format!("unknown model provider \"{provider}\" (in \"{provider}/{model}\")")
        })?;
        // A hosted built-in provider cannot answer without a key: say so
        // before calling it (the reference's words). Ollama needs none.
        let hosted = builtin_provider(&provider).is_some_and(|(_, url)| url == route.base_url);
        if route.api_key.is_none() && hosted && provider != "ollama" {
            let names = builtin_env_keys(&provider).join(" or ");
            return Err(format!(
                "No API key found for provider \"{provider}\". Set {names}, or models.providers.{provider}.apiKey."
            ));
        }
        let entry = route.models.iter().find(|m| m.id == model).cloned();
        Ok(ResolvedModel {
            provider,
            model,
            entry,
            route: route.clone(),
            cli: None,
        })
    }

    /// `provider/model` run by a CLI backend: no HTTP route, no key.
    fn cli_model(&self, provider: String, model: String, cli: CliBackend) -> ResolvedModel {
        let listed = self.providers.get(&provider);
        let entry = listed.and_then(|p| p.models.iter().find(|m| m.id == model).cloned());
        ResolvedModel {
            route: ProviderEntry {
                id: cli.id.clone(),
                api: ModelApi::CliBackend,
                base_url: String::new(),
                api_key: None,
                headers: Vec::new(),
                max_tokens: None,
                models: Vec::new(),
            },
            provider,
            model,
            entry,
            cli: Some(cli),
        }
    }

    /// The `models.list` answer: `{models: [{id, name, provider,
    /// contextWindow?, reasoning?}]}` for every listed model, by provider id
    /// then config order.
    pub fn models_list(&self) -> Value {
        let models: Vec<Value> = self
            .providers
            .values()
            .flat_map(|provider| {
                provider.models.iter().map(move |model| {
                    let mut row = json!({
                        "id": model.id,
                        "name": model.name,
                        "provider": provider.id,
                    });
                    if let Some(window) = model.context_window.filter(|w| *w > 0) {
                        row["contextWindow"] = json!(window);
                    }
                    if let Some(reasoning) = model.reasoning {
                        row["reasoning"] = json!(reasoning);
                    }
                    row
                })
            })
            .collect();
        json!({ "models": models })
    }
}

fn non_blank(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A built-in provider's base URL: `ANTHROPIC_BASE_URL` moves the
/// `anthropic` one, as in the reference.
fn builtin_base_url(id: &str, default: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let from_env = match id {
        "anthropic" => env("ANTHROPIC_BASE_URL").and_then(|v| non_blank(&v)),
        _ => None,
    };
    from_env.unwrap_or_else(|| default.to_string())
}

/// A built-in provider's key from its environment variables.
fn env_key(id: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    builtin_env_keys(id)
        .iter()
        .find_map(|name| env(name).and_then(|v| non_blank(&v)))
}

/// Whether `text` names an environment variable (`[A-Z_][A-Z0-9_]*`).
fn is_env_var_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `${VAR}` → `VAR`; anything else unchanged.
fn env_reference(text: &str) -> &str {
    text.strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|name| is_env_var_name(name))
        .unwrap_or(text)
}

/// A configured secret: literal, `${VAR}`, bare `VAR`, or `{source:"env",id}`.
fn secret_value(
    raw: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    match raw {
        Value::Null => Ok(None),
        Value::String(text) => {
            let text = env_reference(text.trim());
            if text.is_empty() {
                Ok(None)
            } else if is_env_var_name(text) {
                Ok(env(text).and_then(|v| non_blank(&v)))
            } else {
                Ok(Some(text.to_string()))
            }
        }
        Value::Object(reference) => match (
            reference.get("source").and_then(Value::as_str),
            reference.get("id").and_then(Value::as_str),
        ) {
            (Some("env"), Some(id)) => Ok(env(id.trim()).and_then(|v| non_blank(&v))),
            (Some(source), _) => Err(format!("secret source \"{source}\" is not supported")),
            _ => Err("a secret reference needs source and id".into()),
        },
        _ => Err("must be a string or a secret reference".into()),
    }
}

fn positive(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64).filter(|n| *n > 0)
}

fn provider_from(
    id: &str,
    raw: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderEntry, String> {
    let where_ = format!("models.providers.{id}");
    if !raw.is_object() {
        return Err(format!("{where_}: must be an object"));
    }
    let builtin = builtin_provider(id);
    let api = match raw.get("api").and_then(Value::as_str) {
        Some(name) => ModelApi::parse(name)
            .ok_or_else(|| format!("{where_}.api: \"{name}\" is not supported by this gateway"))?,
        None => builtin.map_or(ModelApi::OpenAiCompletions, |(api, _)| api),
    };
    let base_url = raw
        .get("baseUrl")
        .or_else(|| raw.get("baseURL"))
        .and_then(Value::as_str)
        .and_then(non_blank)
        .or_else(|| builtin.map(|(_, url)| builtin_base_url(id, url, env)))
        .ok_or_else(|| format!("{where_}.baseUrl: required for a custom provider"))?;
    let api_key = match raw.get("apiKey") {
        None => env_key(id, env),
        Some(value) => secret_value(value, env).map_err(|e| format!("{where_}.apiKey: {e}"))?,
    };
    let mut headers = Vec::new();
    if let Some(map) = raw.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            let value =
                secret_value(value, env).map_err(|e| format!("{where_}.headers.{name}: {e}"))?;
            if let Some(value) = value {
                headers.push((name.clone(), value));
            }
        }
    }
    let max_tokens = positive(raw.get("maxTokens")).map(clamp_u32);
    let models = raw
        .get("models")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(model_from).collect())
        .unwrap_or_default();
    Ok(ProviderEntry {
        id: id.to_string(),
        api,
        base_url,
        api_key,
        headers,
        max_tokens,
        models,
    })
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A model entry; one without an `id` is skipped.
fn model_from(raw: &Value) -> Option<ModelEntry> {
    let id = raw.get("id").and_then(Value::as_str).and_then(non_blank)?;
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .and_then(non_blank)
        .unwrap_or_else(|| id.clone());
    Some(ModelEntry {
        name,
        reasoning: raw.get("reasoning").and_then(Value::as_bool),
        input: raw
            .get("input")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        context_window: positive(raw.get("contextWindow")),
        context_tokens: positive(raw.get("contextTokens")),
        max_tokens: positive(raw.get("maxTokens")).map(clamp_u32),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn fake_config() -> Value {
        json!({
            "models": {"mode": "merge", "providers": {"fake": {
                "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-fake", "api": "openai-completions",
                "models": [{"id": "echo", "name": "Echo", "reasoning": false, "input": ["text"],
                            "contextWindow": 32000, "maxTokens": 1000}]}}},
            "agents": {"defaults": {"model": {"primary": "fake/echo"}}}
        })
    }

    #[test]
    fn resolves_the_reference_minimal_config() {
        let catalog = ModelCatalog::from_config(&fake_config(), &no_env);
        assert_eq!(catalog.default_model(), "fake/echo");
        let resolved = catalog.resolve(None).unwrap();
        assert_eq!(resolved.model_ref(), "fake/echo");
        assert_eq!(resolved.context_tokens(), Some(32000));
        let request = resolved.request("be brief".into(), vec![ModelMessage::user("hi")]);
        assert_eq!(request.api, ModelApi::OpenAiCompletions);
        assert_eq!(request.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(request.api_key.as_deref(), Some("sk-fake"));
        assert_eq!(request.model, "echo");
        assert_eq!(request.max_tokens, Some(1000));
        assert_eq!(request.system, "be brief");
        assert!(catalog.warnings().is_empty());
    }

    #[test]
    fn the_default_model_may_be_a_plain_string_with_fallbacks_in_the_object_form() {
        let mut config = fake_config();
        config["agents"]["defaults"]["model"] = json!("fake/echo");
        let catalog = ModelCatalog::from_config(&config, &no_env);
        assert_eq!(catalog.default_model(), "fake/echo");
        config["agents"]["defaults"]["model"] =
            json!({"primary": "openai/gpt-5", "fallbacks": ["fake/echo", " "]});
        let catalog = ModelCatalog::from_config(&config, &no_env);
        assert_eq!(catalog.default_model(), "openai/gpt-5");
        assert_eq!(catalog.fallbacks(), ["fake/echo".to_string()]);
    }

    #[test]
    fn without_a_default_the_first_listed_model_then_the_reference_default_is_used() {
        let mut config = fake_config();
        config["agents"] = json!({});
        let catalog = ModelCatalog::from_config(&config, &no_env);
        assert_eq!(catalog.default_model(), "fake/echo");
        // Unless openai lists the reference's default model.
        config["models"]["providers"]["openai"] = json!({"models": [{"id": "gpt-6-astra"}]});
        let catalog = ModelCatalog::from_config(&config, &no_env);
        assert_eq!(catalog.default_model(), "openai/gpt-6-astra");
        let empty = ModelCatalog::from_config(&json!({}), &no_env);
        assert_eq!(empty.default_model(), "openai/gpt-6-astra");
        let error = empty.resolve(None).unwrap_err();
        assert!(
            error.starts_with("No API key found for provider \"openai\"")
                && error.contains("OPENAI_API_KEY"),
            "{error}"
        );
        let keyed = ModelCatalog::from_config(&json!({}), &env_of(&[("OPENAI_API_KEY", "k")]));
        assert_eq!(
            keyed.resolve(None).unwrap().model_ref(),
            "openai/gpt-6-astra"
        );
        // A bare primary takes the provider that lists it.
        let mut config = fake_config();
        config["agents"]["defaults"]["model"] = json!("echo");
        let catalog = ModelCatalog::from_config(&config, &no_env);
        assert_eq!(catalog.default_model(), "fake/echo");
    }

    #[test]
    fn builtin_providers_take_their_keys_from_the_environment() {
        let env = env_of(&[
            ("OPENAI_API_KEY", "sk-openai"),
            ("ANTHROPIC_API_KEY", "sk-ant"),
        ]);
        let catalog = ModelCatalog::from_config(&json!({}), &env);
        let openai = catalog.resolve(Some("openai/gpt-5")).unwrap();
        assert_eq!(openai.route.api, ModelApi::OpenAiCompletions);
        assert_eq!(openai.route.base_url, OPENAI_DEFAULT_BASE_URL);
        assert_eq!(openai.route.api_key.as_deref(), Some("sk-openai"));
        let anthropic = catalog
            .resolve(Some("anthropic/claude-sonnet-4-5"))
            .unwrap();
        assert_eq!(anthropic.route.api, ModelApi::AnthropicMessages);
        assert_eq!(anthropic.route.base_url, ANTHROPIC_DEFAULT_BASE_URL);
        assert_eq!(anthropic.route.api_key.as_deref(), Some("sk-ant"));
        let ollama = catalog.resolve(Some("ollama/llama3.2")).unwrap();
        assert_eq!(ollama.route.api, ModelApi::Ollama);
        assert_eq!(ollama.route.base_url, OLLAMA_DEFAULT_BASE_URL);
        assert_eq!(ollama.route.api_key, None);
        let env = env_of(&[("ANTHROPIC_BASE_URL", "http://127.0.0.1:7/")]);
        let catalog = ModelCatalog::from_config(&json!({}), &env);
        assert_eq!(
            catalog.provider("anthropic").unwrap().base_url,
            "http://127.0.0.1:7/"
        );
        // CODEX_API_KEY comes first in the reference's list.
        let env = env_of(&[("OPENAI_API_KEY", "sk-2"), ("CODEX_API_KEY", "sk-1")]);
        let catalog = ModelCatalog::from_config(&json!({}), &env);
        assert_eq!(
            catalog.provider("openai").unwrap().api_key.as_deref(),
            Some("sk-1")
        );
    }

    #[test]
    fn api_keys_may_name_an_environment_variable() {
        let env = env_of(&[("LITELLM_KEY", "from-env"), ("OTHER", "other")]);
        for (raw, expected) in [
            (json!("LITELLM_KEY"), Some("from-env")),
            (json!("${LITELLM_KEY}"), Some("from-env")),
            (
                json!({"source": "env", "provider": "default", "id": "OTHER"}),
                Some("other"),
            ),
            (json!("UNSET_VAR"), None),
            (json!("sk-literal"), Some("sk-literal")),
            (json!(""), None),
        ] {
            let config =
                json!({"models": {"providers": {"p": {"baseUrl": "http://x", "apiKey": raw}}}});
            let catalog = ModelCatalog::from_config(&config, &env);
            assert_eq!(
                catalog.provider("p").unwrap().api_key.as_deref(),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn a_custom_provider_speaks_openai_completions_unless_told() {
        let config = json!({"models": {"providers": {
            "local": {"baseUrl": "http://127.0.0.1:8000/v1", "headers": {"X-Tenant": "t1", "X-Auth": "${TOKEN}"}},
            "claude": {"baseUrl": "https://proxy.example/anthropic", "api": "anthropic-messages"},
            "weird": {"baseUrl": "http://x", "api": "google-generative-ai"},
            "nourl": {"api": "openai-completions"},
        }}});
        let env = env_of(&[("TOKEN", "secret")]);
        let catalog = ModelCatalog::from_config(&config, &env);
        let local = catalog.provider("local").unwrap();
        assert_eq!(local.api, ModelApi::OpenAiCompletions);
        assert_eq!(
            local.headers,
            [
                ("X-Auth".into(), "secret".into()),
                ("X-Tenant".into(), "t1".into())
            ]
        );
        assert_eq!(
            catalog.provider("claude").unwrap().api,
            ModelApi::AnthropicMessages
        );
        assert!(catalog.provider("weird").is_none());
        assert!(catalog.provider("nourl").is_none());
        assert_eq!(catalog.warnings().len(), 2, "{:?}", catalog.warnings());
        assert!(!format!("{local:?}").contains("secret"));
    }

    #[test]
    fn a_configured_builtin_overrides_its_defaults_and_replace_drops_the_others() {
        let config = json!({"models": {"mode": "replace", "providers": {
            "ollama": {"baseUrl": "http://gpu-box:11434", "models": [{"id": "qwen3"}]}}}});
        let catalog = ModelCatalog::from_config(&config, &no_env);
        let ollama = catalog.provider("ollama").unwrap();
        assert_eq!(ollama.api, ModelApi::Ollama);
        assert_eq!(ollama.base_url, "http://gpu-box:11434");
        assert!(catalog.provider("openai").is_none());
        assert!(catalog.resolve(Some("openai/gpt-5")).is_err());
        // A bare id finds its provider; the name defaults to the id.
        let resolved = catalog.resolve(Some("qwen3")).unwrap();
        assert_eq!(resolved.model_ref(), "ollama/qwen3");
        assert_eq!(resolved.entry.unwrap().name, "qwen3");
    }

    #[test]
    fn model_ids_may_contain_slashes_and_bad_refs_say_why() {
        let config =
            json!({"models": {"providers": {"or": {"baseUrl": "http://x", "maxTokens": 77}}}});
        let catalog = ModelCatalog::from_config(&config, &no_env);
        let resolved = catalog.resolve(Some("or/meta/llama-3")).unwrap();
        assert_eq!(
            (resolved.provider.as_str(), resolved.model.as_str()),
            ("or", "meta/llama-3")
        );
        assert_eq!(resolved.max_tokens(), Some(77));
        assert!(catalog
            .resolve(Some("nope/x"))
            .unwrap_err()
            .contains("nope"));
        assert!(catalog.resolve(Some("/x")).is_err());
        // A bare id nobody lists goes to the default provider.
        let bare = catalog.resolve(Some("lonely")).unwrap_err();
        assert!(bare.contains("\"openai\""), "{bare}");
        // A keyless openai moved to a local server is fine.
        let config =
            json!({"models": {"providers": {"openai": {"baseUrl": "http://127.0.0.1:8080/v1"}}}});
        let local = ModelCatalog::from_config(&config, &no_env);
        assert!(local.resolve(Some("openai/any")).is_ok());
    }

    #[test]
    fn models_list_has_the_reference_row_shape() {
        let catalog = ModelCatalog::from_config(&fake_config(), &no_env);
        assert_eq!(
            catalog.models_list(),
            json!({"models": [{"id": "echo", "name": "Echo", "provider": "fake",
                               "contextWindow": 32000, "reasoning": false}]})
        );
    }
}
