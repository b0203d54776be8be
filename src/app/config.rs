//! The one nested experiment configuration: data, model, objective, β schedule,
//! optimizer, training loop and seed.
//!
//! Configs are TOML. Every field has a default, so an empty file (or none) is a
//! valid config; `--set section.key=value` overrides are applied on top of the
//! file before it is parsed, so they go through exactly the same checks.
//! Unknown keys are errors that name the full key path (`model.latnt_dim`), and
//! [`ExperimentConfig::validate`] reports *every* bad value at once.
//!
//! We use plain serde rather than burn's `Config` derive because we need TOML,
//! unknown-key detection and key paths in errors.

//!
//! This is the application's config: each section is defined by the layer
//! that reads it (`[data]` in `data`, `[model]` in `models`, `[monitor]` in
//! `metrics`, the trainer's sections in `train`) and re-exported here.

pub use crate::core::device::DeviceChoice;
pub use crate::data::DataConfig;
pub use crate::metrics::config::MonitorConfig;
pub use crate::models::config::{
    Activation, Arch, CodebookUpdate, Init, Likelihood, MixtureConfig, ModelConfig, ModelKind,
    TwoLayerConfig, VarianceSharing, VqConfig,
};
pub use crate::train::config::{
    LrSchedule, NonFinitePolicy, ObjectiveConfig, ObjectiveKind, OptimizerConfig, OptimizerKind,
    Ramp, ScheduleConfig, ScheduleKind, ScheduleUnit, TrainConfig, TrainerConfig, burda_epochs,
    burda_stage,
};

use crate::core::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole experiment. Written, resolved, into every run directory as
/// `config.toml`, so `vaekit train --config RUN/config.toml` re-runs it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Run name: the run directory is `runs/<name>-<timestamp>/`.
    pub name: String,
    /// Seed for weights, data order, binarization and reparameterisation noise.
    pub seed: u64,
    /// `cpu` or `wgpu`.
    pub device: DeviceChoice,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub objective: ObjectiveConfig,
    pub schedule: ScheduleConfig,
    pub optimizer: OptimizerConfig,
    pub train: TrainConfig,
    pub monitor: MonitorConfig,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "vae".into(),
            seed: 0,
            device: DeviceChoice::Cpu,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            objective: ObjectiveConfig::default(),
            schedule: ScheduleConfig::default(),
            optimizer: OptimizerConfig::default(),
            train: TrainConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }
}

/// Keys earlier versions wrote that this one no longer has. Run folders
/// with `train.debug_nan_at_step = 0` (every run written before it became
/// the test hook [`crate::train::NanAt`]) keep loading; another value asked
/// for a fault this config can no longer inject.
fn drop_retired_keys(table: &mut toml::Table) -> Result<()> {
    const KEY: &str = "debug_nan_at_step";
    let Some(toml::Value::Table(train)) = table.get_mut("train") else {
        return Ok(());
    };
    match train.remove(KEY) {
        None | Some(toml::Value::Integer(0)) => Ok(()),
        Some(v) => Err(Error::Config(vec![format!(
            "train.{KEY} = {v}: this testing hook is no longer a config key; \
             a test passes `vaekit::train::NanAt(step)` as a step hook to \
             `vaekit::run::train_with_hooks` or `vaekit::train::fit`"
        )])),
    }
}

/// Sentences with no `model.kind` given train a text VAE: the image
/// default (`vae`) cannot read them.
fn default_text_model(table: &mut toml::Table) {
    let text = table
        .get("data")
        .and_then(|d| d.get("spec"))
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse::<crate::data::DataSpec>().ok())
        .is_some_and(|s| s.is_text());
    if !text {
        return;
    }
    let model = table
        .entry("model")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(m) = model.as_table_mut() {
        m.entry("kind")
            .or_insert_with(|| toml::Value::String("text_vae".into()));
    }
}

impl ExperimentConfig {
    /// Build a config from an optional TOML file plus `key=value` overrides,
    /// then validate it. Errors name the file and the key.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    Error::bad_file(path, format!("not valid TOML: {}", e.message()))
                })?
            }
            None => toml::Table::new(),
        };
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        // Files written before each model kind had its own table keep
        // working: their keys move to the table of the kind in force after
        // the overrides (`--set model.kind=gmm` on an old file with
        // `components = 20` gives 20 components).
        if let Some(toml::Value::Table(model)) = table.get_mut("model") {
            ModelConfig::migrate(model);
        }
        default_text_model(&mut table);
        drop_retired_keys(&mut table)?;
        Self::from_table(table, file)
    }

    fn from_table(table: toml::Table, file: Option<&Path>) -> Result<Self> {
        // Every unknown key and every value of the wrong type, then every
        // invalid value of the keys that remain: all reported at once.
        let known = toml::Value::try_from(Self::default()).expect("defaults serialize");
        let mut bad = Vec::new();
        schema_check(&table, known.as_table().expect("a table"), "", &mut bad);
        let mut pruned = table;
        for (path, _) in &bad {
            remove_path(&mut pruned, path);
        }
        let mut problems: Vec<String> = bad.into_iter().map(|(_, msg)| msg).collect();
        // Parse; a value the parser rejects (a misspelt choice) is reported
        // and removed, and parsing goes on, so every problem shows at once.
        for _ in 0..64 {
            let parsed: std::result::Result<Self, _> =
                serde_path_to_error::deserialize(toml::Value::Table(pruned.clone()));
            match parsed {
                Ok(cfg) => {
                    if let Err(Error::Config(more)) = cfg.validate() {
                        problems.extend(more);
                    }
                    if problems.is_empty() {
                        return Ok(cfg);
                    }
                    break;
                }
                Err(e) => {
                    let path = e.path().to_string();
                    problems.push(format!("{path}: {}", e.inner()));
                    let key = path.split('[').next().unwrap_or(&path).to_string();
                    if !remove_path(&mut pruned, &key) {
                        break;
                    }
                }
            }
        }
        if let Some(f) = file {
            problems.push(format!("(in {} or a --set override)", f.display()));
        }
        Err(Error::Config(problems))
    }

    /// The model this config names, for data of `kind`, with the weights of
    /// `self.seed` ([`crate::models::build_model`]).
    pub fn build_model(
        &self,
        kind: &crate::data::DataKind,
        device: &burn::tensor::Device,
    ) -> crate::models::AnyModel {
        crate::models::build_model(&self.model, self.seed, kind, device)
    }

    /// The remedies for posterior collapse this model offers, each with
    /// whether this config has it on: what the collapse alarm suggests (and
    /// what it does not, because it is already on).
    pub fn collapse_remedies(&self) -> Vec<crate::metrics::alarm::Remedy> {
        use crate::metrics::alarm::Remedy;
        let kind = self.schedule.kind;
        let mut r = vec![
            Remedy {
                what: "KL annealing",
                how: "--set schedule.kind=linear, or sigmoid",
                on: matches!(kind, ScheduleKind::Linear | ScheduleKind::Sigmoid),
            },
            Remedy {
                what: "cyclical β",
                how: "--set schedule.kind=cyclical",
                on: kind == ScheduleKind::Cyclical,
            },
            Remedy {
                what: "free bits",
                how: "--set objective.free_bits=0.5",
                on: self.objective.free_bits > 0.0,
            },
        ];
        if self.model.kind == ModelKind::TextVae {
            r.extend([
                Remedy {
                    what: "word dropout",
                    how: "--set model.text.word_dropout=0.5",
                    on: self.model.text.word_dropout > 0.0,
                },
                Remedy {
                    what: "aggressive encoder training",
                    how: "--set train.aggressive=true",
                    on: self.train.aggressive,
                },
                Remedy {
                    what: "pre-training with a decoder reset",
                    how: "--set train.pretrain_steps=N",
                    on: self.train.pretrain_steps > 0,
                },
            ]);
        }
        r
    }

    /// The sections the trainer reads.
    pub fn trainer(&self) -> TrainerConfig<'_> {
        TrainerConfig {
            objective: &self.objective,
            schedule: &self.schedule,
            optimizer: &self.optimizer,
            train: &self.train,
        }
    }

    /// Serialize as the TOML written into run directories.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes to TOML")
    }

    /// Check every value; report all problems at once, each naming its key.
    /// Each section checks its own keys; what involves two sections is here.
    pub fn validate(&self) -> Result<()> {
        let mut errs = Vec::new();
        self.data.problems(&mut errs);
        self.model.problems(&mut errs);
        self.trainer().problems(&mut errs);
        self.monitor.problems(&mut errs);
        if self.model.one_hot_posterior() && self.objective.kind != ObjectiveKind::Elbo {
            errs.push(format!(
                "objective.kind = \"{}\" with model.kind = \"{}\": a one-hot posterior \
                 admits only `elbo` (its KL is the constant P·log K)",
                self.objective.kind.as_str(),
                self.model.kind.as_str()
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(errs))
        }
    }
}

/// Compare a user table with the defaults' table: keys the defaults lack are
/// unknown; a value whose TOML type differs from the default's is wrong
/// (an integer where a float is expected is fine).
fn schema_check(
    user: &toml::Table,
    known: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) {
    use toml::Value as V;
    for (key, value) in user {
        let path = format!("{prefix}{key}");
        let Some(default) = known.get(key) else {
            let mut valid: Vec<&str> = known.keys().map(String::as_str).collect();
            valid.sort_unstable();
            let msg = format!("{path}: unknown key; valid keys here: {}", valid.join(", "));
            out.push((path, msg));
            continue;
        };
        match (value, default) {
            (V::Table(u), V::Table(k)) => schema_check(u, k, &format!("{path}."), out),
            (V::Integer(_), V::Float(_)) => {}
            // A list of strings where one string is the default: keys that
            // take one value or several (`train.on_collapse`); the key's own
            // type then says whether a list is right.
            (V::Array(u), V::String(_)) if u.iter().all(|i| i.is_str()) => {}
            (V::Array(u), V::Array(k)) => {
                if let Some(first) = k.first() {
                    for item in u {
                        if item.type_str() != first.type_str() {
                            let msg = format!(
                                "{path}: expected an array of {}s, found a {} ({item})",
                                first.type_str(),
                                item.type_str()
                            );
                            out.push((path.clone(), msg));
                            break;
                        }
                    }
                }
            }
            (u, k) if u.type_str() != k.type_str() => {
                let msg = format!(
                    "{path}: expected {}, found {} ({u})",
                    article(k.type_str()),
                    article(u.type_str())
                );
                out.push((path, msg));
            }
            _ => {}
        }
    }
}

/// "a string", "an integer".
fn article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

/// Remove the key at a dotted path from a table; whether it was there.
fn remove_path(table: &mut toml::Table, path: &str) -> bool {
    match path.split_once('.') {
        None => table.remove(path).is_some(),
        Some((head, rest)) => match table.get_mut(head) {
            Some(toml::Value::Table(t)) => remove_path(t, rest),
            _ => false,
        },
    }
}

/// Apply one `a.b.c=value` override to a TOML table. The value is parsed as a
/// TOML value (`3`, `1e-3`, `true`, `[400, 200]`, `"x"`); anything that does
/// not parse is taken as a bare string (`data.spec=idx:/data/mnist`).
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item.split_once('=').ok_or_else(|| {
        Error::Config(vec![format!(
            "--set {item:?}: expected KEY=VALUE, for example --set model.latent_dim=32"
        )])
    })?;
    let key = key.trim();
    if let Some(new) = ModelConfig::moved_key(key) {
        return Err(Error::Config(vec![format!(
            "{item:?}: {key} has moved to {new} (each model kind has its own table)"
        )]));
    }
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(vec![format!(
            "--set {item:?}: {key:?} is not a key path like model.latent_dim"
        )]));
    }
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().ok_or_else(|| {
            Error::Config(vec![format!(
                "--set {item:?}: {part} is a value, not a section"
            )])
        })?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[&str]) -> Result<ExperimentConfig> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ExperimentConfig::load(None, &o)
    }

    /// Each remedy is on exactly when its key turns it on; text remedies
    /// only for the text VAE.
    #[test]
    fn collapse_remedies_follow_the_config() {
        let on = |c: &ExperimentConfig| -> Vec<&'static str> {
            c.collapse_remedies()
                .iter()
                .filter(|r| r.on)
                .map(|r| r.what)
                .collect()
        };
        let c = load(&[]).unwrap();
        assert!(on(&c).is_empty());
        assert_eq!(c.collapse_remedies().len(), 3);
        let c = load(&[
            "model.kind=text_vae",
            "data.spec=synthetic-text",
            "train.aggressive=true",
            "objective.free_bits=0.25",
        ])
        .unwrap();
        assert_eq!(c.collapse_remedies().len(), 6);
        assert_eq!(on(&c), ["free bits", "aggressive encoder training"]);
        let c = load(&[
            "model.kind=text_vae",
            "data.spec=synthetic-text",
            "schedule.kind=sigmoid",
            "model.text.word_dropout=0.3",
        ])
        .unwrap();
        assert_eq!(on(&c), ["KL annealing", "word dropout"]);
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = load(&[]).unwrap();
        assert_eq!(c, ExperimentConfig::default());
        let text = c.to_toml();
        let back: ExperimentConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn overrides_set_nested_values_of_every_type() {
        let c = load(&[
            "model.latent_dim=32",
            "model.hidden=[512, 256]",
            "optimizer.lr=3e-4",
            "data.spec=idx:/tmp/mnist",
            "schedule.kind=cyclical",
            "model.activation=tanh",
        ])
        .unwrap();
        assert_eq!(c.model.latent_dim, 32);
        assert_eq!(c.model.hidden, vec![512, 256]);
        assert_eq!(c.optimizer.lr, 3e-4);
        assert_eq!(c.data.spec.to_string(), "idx:/tmp/mnist");
        assert_eq!(c.schedule.kind, ScheduleKind::Cyclical);
        assert_eq!(c.model.activation, Activation::Tanh);
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = load(&["model.latnt_dim=3"]).unwrap_err().to_string();
        assert!(err.contains("model.latnt_dim"), "{err}");
        assert!(err.contains("latent_dim"), "suggests the valid keys: {err}");
    }

    #[test]
    fn all_unknown_keys_and_wrong_types_are_reported_at_once() {
        let err = load(&[
            "model.latnt_dim=3",
            "optimzer.lr=1",
            "train.batch_size=big",
            "model.hidden=[\"a\"]",
        ])
        .unwrap_err()
        .to_string();
        for key in [
            "model.latnt_dim",
            "optimzer",
            "train.batch_size",
            "model.hidden",
        ] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let err = load(&["train.batch_size=big"]).unwrap_err().to_string();
        assert!(err.contains("train.batch_size"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = load(&[
            "schedule.beta=-1",
            "model.latent_dim=0",
            "schedule.kind=cyclical",
            "schedule.ratio=1.5",
        ])
        .unwrap_err()
        .to_string();
        for key in ["schedule.beta", "model.latent_dim", "schedule.ratio"] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
    }

    #[test]
    fn malformed_override_is_an_error() {
        assert!(load(&["model.latent_dim"]).is_err());
        assert!(load(&["model..x=1"]).is_err());
        assert!(load(&["seed.x=1"]).is_err());
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "seed = 7\n[model]\nlatent_dim = 4\n").unwrap();
        let c = ExperimentConfig::load(Some(&p), &["model.latent_dim=5".into()]).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.model.latent_dim, 5);
        std::fs::write(&p, "seed = \n").unwrap();
        let err = ExperimentConfig::load(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn an_unknown_model_kind_lists_the_kinds() {
        let err = load(&["model.kind=vqvae"]).unwrap_err().to_string();
        for k in ["model.kind", "vqvae", "vae", "gmm", "vamp", "vq_vae"] {
            assert!(err.contains(k), "{k} missing from: {err}");
        }
    }

    #[test]
    fn a_moved_key_set_on_the_command_line_names_its_new_place() {
        let err = load(&["model.codes=64"]).unwrap_err().to_string();
        assert!(err.contains("model.vq_vae.codes"), "{err}");
        let err = load(&["model.components=3"]).unwrap_err().to_string();
        assert!(err.contains("model.<gmm|vamp>.components"), "{err}");
        let c = load(&["model.kind=vq_vae", "model.vq_vae.codes=64"]).unwrap();
        assert_eq!(c.model.vq_vae.codes, 64);
    }

    #[test]
    fn a_file_with_the_old_flat_model_keys_still_loads() {
        // As an older run's config.toml has them: every key of every kind.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(
            &p,
            "[model]\nkind = \"vq_vae\"\ncomponents = 7\ncodes = 32\ncode_dim = 4\n\
             codebook_update = \"loss\"\ndead_code_restart = true\n",
        )
        .unwrap();
        let c = ExperimentConfig::load(Some(&p), &[]).unwrap();
        assert_eq!(c.model.vq_vae.codes, 32);
        assert_eq!(c.model.vq_vae.code_dim, 4);
        assert_eq!(c.model.vq_vae.codebook_update, CodebookUpdate::Loss);
        assert!(c.model.vq_vae.dead_code_restart);
        // `components` belonged to no key a VQ-VAE reads: dropped, as it was ignored.
        assert_eq!(c.model.gmm, MixtureConfig::default());
        std::fs::write(&p, "[model]\nkind = \"gmm\"\ncomponents = 7\ncodes = 32\n").unwrap();
        let c = ExperimentConfig::load(Some(&p), &[]).unwrap();
        assert_eq!(c.model.gmm.components, 7);
        assert_eq!(c.model.vq_vae, VqConfig::default());
        // The kind in force after the overrides decides where an old key goes.
        let c = ExperimentConfig::load(Some(&p), &["model.kind=vamp".into()]).unwrap();
        assert_eq!(c.model.vamp.components, 7);
        // An override of the new key wins over the file's old one.
        let c = ExperimentConfig::load(Some(&p), &["model.gmm.components=3".into()]).unwrap();
        assert_eq!(c.model.gmm.components, 3);
        // Only the chosen kind's table is validated.
        assert!(load(&["model.vq_vae.codes=1"]).is_ok());
        let err = load(&["model.kind=vq_vae", "model.vq_vae.codes=1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.vq_vae.codes"), "{err}");
    }

    #[test]
    fn the_retired_nan_key_loads_at_zero_and_names_its_replacement_otherwise() {
        assert!(load(&["train.debug_nan_at_step=0"]).is_ok());
        let e = load(&["train.debug_nan_at_step=25"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train.debug_nan_at_step = 25") && e.contains("NanAt"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_data_spec_names_the_key_and_lists_the_forms() {
        let e = load(&["data.spec=mnist"]).unwrap_err().to_string();
        assert!(e.contains("data.spec") && e.contains("`idx:DIR`"), "{e}");
        let e = load(&["data.spec=idx:"]).unwrap_err().to_string();
        assert!(
            e.contains("data.spec") && e.contains("name the folder"),
            "{e}"
        );
    }
}
