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
