//! Published experiments that vaekit reproduces, as data: each paper's
//! settings (as config overrides) and the numbers it printed, with where
//! they were read. The study binaries (`experiments/`) and the benches share
//! them, so a table and a speed figure describe the same model.

/// Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders"
/// (ICLR 2016; arXiv:1509.00519v4): the MNIST experiment of §5 and Table 1.
pub mod burda2016 {
    /// Passes of the paper's full schedule: Σ_{i=0}^{7} 3^i.
    pub const FULL_PASSES: usize = 3280;

    /// One cell of Table 1 as the paper prints it.
    pub struct PaperCell {
        pub layers: usize,
        pub objective: &'static str,
        pub k: usize,
        /// Test NLL in nats (−L_5000).
        pub nll: f64,
        /// Active units per layer ("k1+k2" for two layers).
        pub active: &'static [usize],
    }

    /// Burda, Grosse & Salakhutdinov (2016), arXiv:1509.00519v4, Table 1, the
    /// MNIST columns (NLL and active units), read in the paper; the code's
    /// README (yburda/iwae) says these are the numbers of the published code.
    pub const PAPER: &[PaperCell] = &[
        cell(1, "vae", 1, 86.76, &[19]),
        cell(1, "vae", 5, 86.47, &[20]),
        cell(1, "vae", 50, 86.35, &[20]),
        cell(1, "iwae", 1, 86.76, &[19]),
        cell(1, "iwae", 5, 85.54, &[22]),
        cell(1, "iwae", 50, 84.78, &[25]),
        cell(2, "vae", 1, 85.33, &[16, 5]),
        cell(2, "vae", 5, 85.01, &[17, 5]),
        cell(2, "vae", 50, 84.78, &[17, 5]),
        cell(2, "iwae", 1, 85.33, &[16, 5]),
        cell(2, "iwae", 5, 83.89, &[21, 5]),
        cell(2, "iwae", 50, 82.90, &[26, 7]),
    ];

    const fn cell(
        layers: usize,
        objective: &'static str,
        k: usize,
        nll: f64,
        active: &'static [usize],
    ) -> PaperCell {
        PaperCell {
            layers,
            objective,
            k,
            nll,
            active,
        }
    }

    /// The run that trains a cell: k = 1 is one model for both objectives.
    pub fn variant_name(layers: usize, objective: &str, k: usize) -> String {
        if k == 1 {
            format!("{layers}L-k1")
        } else {
            format!("{layers}L-{objective}-k{k}")
        }
    }

    /// The overrides of a cell: the paper's model and training.
    pub fn variant(layers: usize, objective: &str, k: usize) -> Vec<String> {
        let mut o: Vec<String> = [
            "model.hidden=[200,200]",
            "model.activation=tanh",
            "model.init=glorot",
            "model.likelihood=bernoulli",
            "optimizer.kind=adam",
            "optimizer.lr=0.001",
            "optimizer.beta1=0.9",
            "optimizer.beta2=0.999",
            "optimizer.eps=0.0001",
            "optimizer.lr_schedule=burda2016",
            "train.batch_size=20",
            "data.val_last=400",
            "schedule.kind=constant",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if layers == 1 {
            o.extend(["model.kind=vae".into(), "model.latent_dim=50".into()]);
        } else {
            o.extend([
                "model.kind=two_layer".into(),
                "model.latent_dim=100".into(),
                "model.two_layer.latent_dim=50".into(),
                "model.two_layer.hidden=[100,100]".into(),
            ]);
        }
        match (objective, k) {
            (_, 1) => o.push("objective.kind=elbo".into()),
            ("vae", k) => o.extend([
                "objective.kind=elbo".into(),
                format!("objective.samples={k}"),
            ]),
            (_, k) => o.extend(["objective.kind=iwae".into(), format!("objective.k={k}")]),
        }
        o
    }
}

/// Text VAEs on the Penn Treebank (Mikolov's files): the settings of the
/// `ptb` study, at texar's PTB size, and the published numbers that could
/// be read in a paper or its authors' repository (docs/reproducing.md §9
/// says where each came from, and which were left out and why).
pub mod ptb {
    /// The data every number below was measured on.
    pub const DATA: crate::data::canonical::Canonical = crate::data::canonical::Canonical::Ptb;

    /// One setting of the study.
    pub struct Setting {
        pub name: &'static str,
        /// The epochs of the paper whose recipe it follows.
        pub full_epochs: usize,
        /// What it is, for the docs and the table's reader.
        pub what: &'static str,
    }

    /// The settings, in table order.
    pub const SETTINGS: &[Setting] = &[
        Setting {
            name: "lm",
            full_epochs: 100,
            what: "the LSTM language model: the decoder alone, no latent",
        },
        Setting {
            name: "vanilla",
            full_epochs: 100,
            what: "the VAE with β = 1 from the first step: the collapse",
        },
        Setting {
            name: "texar",
            full_epochs: 100,
            what: "texar's PTB recipe: β from 0.1 to 1 linearly over 9 epochs, per step",
        },
        Setting {
            name: "cyclical",
            full_epochs: 40,
            what: "Fu et al. (2019): 4 cycles of 10 epochs, β from 0.1 to 1 over the first 4.5 of each",
        },
        Setting {
            name: "word-dropout-0.5",
            full_epochs: 100,
            what: "Bowman et al. (2016): texar's annealing and word dropout 0.5 (keep rate 0.5)",
        },
        Setting {
            name: "inputless",
            full_epochs: 100,
            what: "Bowman et al.'s input-less decoder: word dropout 1.0 (keep rate 0), texar's annealing",
        },
        Setting {
            name: "fb-kingma-0.25",
            full_epochs: 100,
            what: "free bits, Kingma et al.'s form: λ = 0.25 nats per dimension on the batch-mean KL",
        },
        Setting {
            name: "fb-li-0.25",
            full_epochs: 100,
            what: "free bits, Li et al.'s per-example per-dimension form (their fb 2 with target 8 = 32 × 0.25)",
        },
        Setting {
            name: "pretrain+fb",
            full_epochs: 100,
            what: "Li et al. (2019): a quarter of the steps as an autoencoder (β = 0), decoder reset, then β from 0 to 1 over 10 epochs with fb-li-0.25",
        },
        Setting {
            name: "aggressive",
            full_epochs: 100,
            what: "He et al. (2019): aggressive encoder updates until I(x;z) stops rising, β = 1",
        },
    ];

    /// The model and training every setting shares: texar's PTB LSTM VAE
    /// (`config_lstm_ptb.py`), or a small one for `--quick`.
    pub fn model(quick: bool) -> Vec<String> {
        let (embed, hidden, latent) = if quick { (64, 128, 16) } else { (256, 256, 32) };
        let mut o: Vec<String> = vec![
            "model.kind=text_vae".into(),
            format!("model.text.embed={embed}"),
            format!("model.text.hidden={hidden}"),
            format!("model.latent_dim={latent}"),
            "model.text.z_in_input=true".into(),
            "model.text.embed_dropout=0.5".into(),
            "model.text.output_dropout=0.5".into(),
            "optimizer.kind=adam".into(),
            "optimizer.lr=0.001".into(),
            "optimizer.clip_norm=5".into(),
            "train.batch_size=32".into(),
            "train.log_every=100".into(),
            "schedule.kind=constant".into(),
            "data.max_len=100".into(),
        ];
        o.push(if quick {
            "data.max_vocab=2000".into()
        } else {
            "data.max_vocab=10000".into()
        });
        o
    }

    fn linear(start: f64, warmup_epochs: f64) -> Vec<String> {
        vec![
            "schedule.kind=linear".into(),
            "schedule.unit=epochs".into(),
            format!("schedule.beta_start={start}"),
            "schedule.beta=1".into(),
            format!("schedule.warmup={warmup_epochs}"),
        ]
    }

    /// The overrides of setting `name` for a run of `epochs` epochs of
    /// `steps_per_epoch` steps (the schedules are the papers', in epochs,
    /// whatever the budget; pre-training takes a quarter of the run).
    pub fn overrides(name: &str, epochs: usize, steps_per_epoch: usize) -> Vec<String> {
        // texar and Fu et al. add 1/(W·batches per epoch) to β each step
        // from 0.1: β reaches 1 after 0.9·W epochs (W = 10 and 5).
        let texar = linear(0.1, 9.0);
        let fb_li = vec![
            "objective.free_bits=0.25".to_string(),
            "objective.free_bits_form=example-dim".into(),
        ];
        match name {
            "lm" => vec!["model.kind=lstm_lm".into()],
            "vanilla" => vec![],
            "texar" => texar,
            "cyclical" => vec![
                "schedule.kind=cyclical".into(),
                "schedule.unit=epochs".into(),
                "schedule.beta_start=0.1".into(),
                "schedule.beta=1".into(),
                "schedule.period=40".into(),
                "schedule.cycles=4".into(),
                "schedule.ratio=0.45".into(),
            ],
            "word-dropout-0.5" => [texar, vec!["model.text.word_dropout=0.5".into()]].concat(),
            "inputless" => [texar, vec!["model.text.word_dropout=1".into()]].concat(),
            "fb-kingma-0.25" => vec![
                "objective.free_bits=0.25".into(),
                "objective.free_bits_form=batch-dim".into(),
            ],
            "fb-li-0.25" => fb_li,
            "pretrain+fb" => {
                let mut o = linear(0.0, 10.0);
                o.extend(fb_li);
                o.push(format!(
                    "train.pretrain_steps={}",
                    (epochs * steps_per_epoch / 4).max(1)
                ));
                o
            }
            "aggressive" => vec!["train.aggressive=true".into()],
            other => panic!("no ptb setting {other}"),
        }
    }

    /// How a paper's NLL was estimated.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Estimator {
        /// The negative ELBO with one sample of z (texar, Fu et al.).
        NegElbo,
        /// An importance-weighted bound (Li et al., He et al.: 500 samples).
        Iwae,
        /// The exact likelihood (a language model).
        Exact,
    }

    impl Estimator {
        pub fn label(self) -> &'static str {
            match self {
                Estimator::NegElbo => "−ELBO",
                Estimator::Iwae => "IWAE",
                Estimator::Exact => "exact",
            }
        }
    }

    /// One published row, with the setting of ours that follows its recipe.
    pub struct PaperRow {
        pub paper: &'static str,
        pub row: &'static str,
        pub setting: &'static str,
        pub estimator: Estimator,
        /// Test NLL, nats per sentence.
        pub nll: Option<f64>,
        /// Test perplexity (`</s>` counted, `<s>` not).
        pub ppl: Option<f64>,
        pub kl: Option<f64>,
        /// Where it was read.
        pub source: &'static str,
    }

    /// The rows read in the authors' repositories. Fu et al. (2019, Table
    /// on PTB), Bowman et al. (2016, Table 2) and Li et al. (2019) are not
    /// here: their tables could not be read in this project's sources (the
    /// papers' tables are images in the copies reached, and Li et al.'s
    /// repository fetches no PTB) — docs/reproducing.md §9.
    pub const PAPER: &[PaperRow] = &[
        PaperRow {
            paper: "texar (TensorFlow)",
            row: "VAE-LSTM, PTB",
            setting: "texar",
            estimator: Estimator::NegElbo,
            nll: Some(101.92),
            ppl: Some(104.61),
            kl: None,
            source: "asyml/texar examples/vae_text/README.md @83b1f22 (row set in 9e0e756)",
        },
        PaperRow {
            paper: "texar-pytorch",
            row: "VAE-LSTM, PTB",
            setting: "texar",
            estimator: Estimator::NegElbo,
            nll: Some(102.54),
            ppl: Some(107.64),
            kl: None,
            source: "asyml/texar-pytorch examples/vae_text/README.md @5b56ad3",
        },
    ];
}

/// He, Spokoyny, Neubig, Berg-Kirkpatrick (2019), "Lagging inference
/// networks and posterior collapse in variational autoencoders" (ICLR):
/// their synthetic setting, from the authors' `config/config_synthetic.py`
/// and `text.py` (`jxhe/vae-lagging-encoder`). Shared by the `lagging` and
/// `revive` studies.
pub mod he2019 {
    /// A 2-D latent, embedding 50, LSTMs 50, decoder dropout 0.5 in and
    /// out, no biases on the dense layers, U(−0.01, 0.01) weights and
    /// U(−0.1, 0.1) embeddings, batch 16, SGD with learning rate 1.0
    /// clipped at 5, the plateau decay with reload-best. `quick` shortens
    /// the aggressive inner loop so that CI's aggressive runs take seconds.
    pub fn synthetic_setting(quick: bool) -> Vec<String> {
        let mut o: Vec<String> = [
            "model.kind=text_vae",
            "model.latent_dim=2",
            "model.text.embed=50",
            "model.text.hidden=50",
            "model.text.z_in_input=true",
            "model.text.embed_dropout=0.5",
            "model.text.output_dropout=0.5",
            "model.text.linear_bias=false",
            "model.init=uniform",
            "optimizer.kind=sgd",
            "optimizer.lr=1.0",
            "optimizer.clip_norm=5",
            "optimizer.lr_schedule=plateau",
            "train.batch_size=16",
            "train.log_every=100",
        ]
        .map(String::from)
        .to_vec();
        if quick {
            o.extend(
                [
                    "train.aggressive_max_inner=10",
                    "train.aggressive_patience=5",
                ]
                .map(String::from),
            );
        }
        o
    }
}
