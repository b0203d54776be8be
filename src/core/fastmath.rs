//! Branch-free f32 transcendentals that vectorise: the loops of the fast
//! CPU paths (the IWAE evaluator, the fused LSTM cell and cross-entropy)
//! call these inside functions compiled for AVX-512 or AVX2, where the
//! compiler turns each into a few vector instructions per 16 or 8 values —
//! where libm's scalar `expf`/`tanhf` cost a call per value.

/// e^x for x ≤ 0, branch-free so that loops over it vectorise: x = n·ln2 + r
/// with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its degree-7 Taylor
/// polynomial (relative error < 6·10⁻⁹ before rounding), 2^n by building the
/// exponent bits. Inputs below −87 are clamped (e^−87 ≈ 1.6·10⁻³⁸).
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting rounds to nearest
    let x = x.max(-87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// log(1 + t) for t in [0, 1], branch-free: 2·atanh(s) with s = t/(2+t) ≤ 1/3,
/// eight terms of its odd series (truncation < 2.3·10⁻⁹ relative). Accurate
/// for tiny t too, where log(1 + t) would round to 0.
#[inline(always)]
pub fn log1p_unit(t: f32) -> f32 {
    let s = t / (2.0 + t);
    let q = s * s;
    let series = 1.0
        + q * (1.0 / 3.0
            + q * (1.0 / 5.0
                + q * (1.0 / 7.0
                    + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q * (1.0 / 13.0 + q * (1.0 / 15.0)))))));
    2.0 * s * series
}

/// softplus(l) = max(l, 0) + log(1 + e^−|l|), without branches.
#[inline(always)]
pub fn softplus(l: f32) -> f32 {
    l.max(0.0) + log1p_unit(exp_nonpositive(-l.abs()))
}

/// Defines `fn $name(args)` running the `#[inline(always)]` fn `$body`
/// compiled for the widest vector unit the CPU has (AVX-512, AVX2 + FMA, or
/// the baseline). The crate is built for baseline x86-64, whose 4-wide SSE
/// would make the exponentials cost more than the matrix products (gemm
/// dispatches its own kernels the same way). The functions of this module
/// only vectorise inside such a function: a closure would not inherit its
/// target features, so `$body` must be a named `#[inline(always)]` fn.
macro_rules! widest_simd {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

pub(crate) use widest_simd;

/// σ(x) = 1 / (1 + e^−x), from e^−|x| (never overflows).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp_nonpositive(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 { r } else { e * r }
}

/// tanh(x) = sign(x)·(1 − e^−2|x|)/(1 + e^−2|x|).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let e = exp_nonpositive(-2.0 * x.abs());
    let t = (1.0 - e) / (1.0 + e);
    if x >= 0.0 { t } else { -t }
}

/// Which vector instruction set the fast paths run with on this CPU.
pub fn isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "AVX2";
        }
    }
    "scalar"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_functions_match_libm() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            let (s, t) = (sigmoid(x) as f64, tanh(x) as f64);
            let xs = x as f64;
            let (ws, wt) = (1.0 / (1.0 + (-xs).exp()), xs.tanh());
            assert!(
                (s - ws).abs() <= 2e-7 * ws.abs().max(1e-30) + 1e-37,
                "σ({x}) {s} vs {ws}"
            );
            assert!(
                (t - wt).abs() <= 3e-7 * wt.abs() + 1e-7,
                "tanh({x}) {t} vs {wt}"
            );
            if x <= 0.0 {
                let (e, we) = (exp_nonpositive(x) as f64, xs.exp());
                assert!((e - we).abs() <= 2e-7 * we, "exp({x}) {e} vs {we}");
            }
        }
    }
}
