//! The sample metrics as entries of the metric registry
//! ([`crate::metrics::registry`]): stored in `eval-k*.json` (section
//! `Samples`) and in `vaekit metrics`' output, offered as report columns.
//! Their values come from [`super::score`], passed to the registry in
//! [`Ctx::samples`](crate::metrics::registry::Ctx).

use crate::core::posterior::Family;
use crate::metrics::registry::{Applies, Metric, Need, Section};

/// Wherever samples were scored.
const SAMPLES: Applies = Applies {
    families: &[Family::Gaussian, Family::Codes],
    tokens: false,
    needs: &[Need::Samples],
};
/// Wherever samples were scored with the classifier's features.
const CLASSIFIED: Applies = Applies {
    families: &[Family::Gaussian, Family::Codes],
    tokens: false,
    needs: &[Need::Samples, Need::Labels],
};
/// Mixture priors' samples, classified.
/// (Scored samples carry the component table only when the prior is a
/// mixture, so the samples' record, not `Need::MixturePrior` — which asks
/// for the monitor's responsibilities — decides.)
const MIXTURE_CLASSIFIED: Applies = Applies {
    families: &[Family::Gaussian],
    tokens: false,
    needs: &[Need::Samples, Need::Labels],
};

macro_rules! sample_metric {
    ($id:ident, $name:literal, $label:literal, $doc:literal, $applies:expr) => {
        pub const $id: Metric = Metric::new($name, $label, $doc, $applies, Section::Samples, |c| {
            c.samples.and_then(|s| s.get($name).cloned())
        })
        .column();
    };
}

sample_metric!(
    N_REAL,
    "n_real",
    "real examples",
    "Real examples the samples were compared with.",
    SAMPLES
);
sample_metric!(N_FAKE, "n_fake", "samples", "Samples scored.", SAMPLES);
sample_metric!(
    CLASSIFIER_ACCURACY,
    "classifier_accuracy",
    "feature classifier accuracy",
    "Test accuracy of the classifier whose features the metrics use.",
    CLASSIFIED
);
sample_metric!(
    FD,
    "fd",
    "Fréchet distance",
    "Fréchet distance between Gaussians fitted to real and sample features (the classifier's, or raw values).",
    SAMPLES
);
sample_metric!(
    PRECISION,
    "precision",
    "precision (k=3)",
    "Share of samples inside some real point's 3-NN ball (Kynkäänniemi et al. 2019).",
    SAMPLES
);
sample_metric!(
    RECALL,
    "recall",
    "recall (k=3)",
    "Share of real points inside some sample's 3-NN ball.",
    SAMPLES
);
sample_metric!(
    DENSITY,
    "density",
    "density (k=5)",
    "Mean number of real 5-NN balls holding a sample, over 5 (Naeem et al. 2020).",
    SAMPLES
);
sample_metric!(
    COVERAGE,
    "coverage",
    "coverage (k=5)",
    "Share of real points whose 5-NN ball holds a sample.",
    SAMPLES
);
sample_metric!(
    MMD2,
    "mmd2",
    "MMD² (Gaussian kernel)",
    "Unbiased MMD² with a Gaussian kernel, bandwidth the real set's median distance.",
    SAMPLES
);
sample_metric!(
    MMD_BANDWIDTH,
    "mmd_bandwidth",
    "MMD bandwidth",
    "The Gaussian kernel's bandwidth (median distance between real points).",
    SAMPLES
);
sample_metric!(
    KID,
    "kid",
    "KID",
    "Unbiased cubic-kernel MMD², mean over random subsets (Bińkowski et al. 2018).",
    SAMPLES
);
sample_metric!(
    KID_STD,
    "kid_std",
    "KID std",
    "Standard deviation of KID over the subsets.",
    SAMPLES
);
sample_metric!(
    KID_FULL,
    "kid_full",
    "cubic MMD² (all points)",
    "Unbiased cubic-kernel MMD² over all real and sample points (deterministic).",
    SAMPLES
);
sample_metric!(
    SWD,
    "swd",
    "sliced Wasserstein (features)",
    "Sliced 2-Wasserstein distance between real and sample features over random directions (Rabin et al. 2011; POT's estimator).",
    SAMPLES
);
sample_metric!(
    SWD_VALUES,
    "swd_values",
    "sliced Wasserstein (pixels)",
    "Sliced 2-Wasserstein distance between the real and sample values themselves (pixels), same estimator.",
    SAMPLES
);
sample_metric!(
    SWD_PROJECTIONS,
    "swd_projections",
    "sliced Wasserstein directions",
    "Random directions the sliced Wasserstein distances average over (--swd-projections).",
    SAMPLES
);
sample_metric!(
    HF_RATIO,
    "hf_ratio",
    "high-frequency energy ratio (samples / data)",
    "Energy of the samples' radially averaged power spectrum at ≥ 0.25 cycles per pixel over the data's (images; > 1: noisier than the data, < 1: smoother).",
    SAMPLES
);
sample_metric!(
    SPECTRAL_DISTANCE,
    "spectral_distance",
    "log-spectral distance to the data",
    "Root mean square over frequency rings of log₁₀ of the samples' power over the data's (images).",
    SAMPLES
);
sample_metric!(
    NDB,
    "ndb",
    "NDB (bins)",
    "K-means bins whose sample share differs significantly from the data's (Richardson & Weiss 2018).",
    SAMPLES
);
sample_metric!(
    NDB_FRAC,
    "ndb_frac",
    "NDB/K",
    "NDB over the number of bins.",
    SAMPLES
);
sample_metric!(
    NDB_JS,
    "ndb_js",
    "JS over bins (nats)",
    "Jensen–Shannon divergence between the data's and the samples' bin histograms.",
    SAMPLES
);
sample_metric!(
    CLASSIFIER_SCORE,
    "classifier_score",
    "classifier score",
    "exp E KL(p(y|x) ‖ p(y)) over 10 splits: the Inception score's analogue.",
    CLASSIFIED
);
sample_metric!(
    CLASSIFIER_SCORE_STD,
    "classifier_score_std",
    "classifier score std",
    "Standard deviation of the classifier score over the splits.",
    CLASSIFIED
);
sample_metric!(
    MODES_COVERED,
    "modes_covered",
    "modes covered",
    "Classes predicted for at least a tenth of the samples the data's share would give.",
    CLASSIFIED
);
sample_metric!(
    MODES_TOTAL,
    "modes_total",
    "modes",
    "Classes the real data has.",
    CLASSIFIED
);
sample_metric!(
    MODE_KL,
    "mode_kl",
    "KL(p_gen ‖ p_data) over classes",
    "KL divergence of the samples' predicted classes from the data's.",
    CLASSIFIED
);
sample_metric!(
    COMPONENT_MODES,
    "component_modes",
    "classes of the components",
    "Distinct majority classes among the mixture components' samples.",
    MIXTURE_CLASSIFIED
);
sample_metric!(
    UNIQUE_FRAC,
    "unique_frac",
    "distinct samples",
    "Share of distinct samples (8-bit quantised; exact for binary samples).",
    SAMPLES
);
sample_metric!(
    MEAN_PAIRWISE_DIST,
    "mean_pairwise_dist",
    "mean pairwise distance",
    "Mean distance between samples in feature space.",
    SAMPLES
);
sample_metric!(
    MEAN_PAIRWISE_DIST_REAL,
    "mean_pairwise_dist_real",
    "mean pairwise distance (real)",
    "The same for the real set, for comparison.",
    SAMPLES
);
sample_metric!(
    LATENT_MMD,
    "latent_mmd",
    "MMD²(q(z), p(z))",
    "Unbiased MMD² (multi-scale IMQ kernel, as in WAE) between the aggregate posterior and the prior.",
    SAMPLES
);
