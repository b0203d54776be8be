//! Branch-free f32 transcendentals that vectorise: the loops of the fast
//! CPU paths (the IWAE evaluator, the fused LSTM cell and cross-entropy)
//! call these inside functions compiled for AVX-512 or AVX2, where the
//! compiler turns each into a few vector instructions per 16 or 8 values —
//! where libm's scalar `expf`/`tanhf` cost a call per value.

/// e^x for x ≤ 0, branch-free so that loops over it vectorise: x = n·ln2 + r
/// with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its degree-7 Taylor
/// polynomial (relative error < 6·10⁻⁹ before rounding), 2^n by building the
/// exponent bits. Inputs below −87 are clamped (e^−87 ≈ 1.6·10⁻³⁸).
///
/// Two details keep the loops vector code: n is read from the mantissa bits
/// of the rounded sum (`n as i32` would be Rust's saturating conversion,
/// which LLVM scalarises), and the polynomial is written with `mul_add`
/// (Rust never contracts a·b + c into an FMA by itself).
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting rounds to nearest
    const C: [f32; 8] = [
        1.0,
        1.0,
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
    ];
    let x = x.max(-87.0);
    let t = x.mul_add(LOG2E, ROUND);
    // t's low mantissa bits hold n exactly (|n| ≤ 126 ≪ 2²²).
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let n = t - ROUND;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = C[7];
    for c in C[..7].iter().rev() {
        p = p.mul_add(r, *c);
    }
    p * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// log(1 + t) for t in [0, 1], branch-free and without a division:
/// t·q(t), with q the degree-9 Chebyshev fit of log(1 + t)/t on [0, 1]
/// (|error of q| < 1.4·10⁻⁸; in f32 Horner form the result's relative error
/// is < 2·10⁻⁷ over the interval, tiny t included, where log(1 + t) would
/// round to 0). A division costs several FMAs on the vector units, and this
/// sits in every softplus of the Bernoulli likelihood.
#[inline(always)]
pub fn log1p_unit(t: f32) -> f32 {
    const C: [f32; 10] = [
        1.0,
        -0.499_998_5,
        0.333_291,
        -0.249_478_2,
        0.196_515_4,
        -0.152_515_56,
        0.105_333_686,
        -0.056_436_125,
        0.019_649_623,
        -0.003_214_113_2,
    ];
    let mut q = C[9];
    for c in C[..9].iter().rev() {
        q = q.mul_add(t, *c);
    }
    t * q
}

/// softplus(l) = max(l, 0) + log(1 + e^−|l|), without branches.
#[inline(always)]
pub fn softplus(l: f32) -> f32 {
    l.max(0.0) + log1p_unit(exp_nonpositive(-l.abs()))
}

/// Defines `fn $name(args)` (with any visibility) running the `#[inline(always)]` fn `$body`
/// compiled for the widest vector unit the CPU has (AVX-512, AVX2 + FMA, or
/// the baseline; the fast functions use `mul_add`, which is one instruction
/// with FMA and a slow library call without it). The crate is built for baseline x86-64, whose 4-wide SSE
/// would make the exponentials cost more than the matrix products (gemm
/// dispatches its own kernels the same way). The functions of this module
/// only vectorise inside such a function: a closure would not inherit its
/// target features, so `$body` must be a named `#[inline(always)]` fn.
macro_rules! widest_simd {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if cfg!(feature = "avx512") && std::arch::is_x86_feature_detected!("avx512f") {
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

/// e^x in f32 for any x, branch-free so that loops over it vectorise:
/// x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its
/// degree-7 Taylor polynomial, 2ⁿ by writing the exponent bits. Relative
/// error < 10⁻⁷; x is clamped to [−87, 87] (e^±87 is still a normal f32),
/// e^0 = 1 exactly, and NaN stays NaN.
///
/// Unlike [`exp_nonpositive`] it takes either sign and multiplies and adds
/// separately (no `mul_add`), so it rounds the same way with or without
/// FMA. The synthetic-text generator samples its tokens through it (with
/// [`sigmoid_from_exp`] and [`tanh_from_sigmoid`]): a different rounding
/// would move some softmax CDF across a uniform and change the data, which
/// the generator's pinned test guards against.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // few mantissa bits: n·LN2_HI is exact
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding it rounds to an integer, which then sits in the low
    // mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 87.0);
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let exponent = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127) << 23;
    p * f32::from_bits(exponent)
}

/// σ(x) = 1 / (1 + e^−x) written directly on [`exp`] (which clamps, so it
/// saturates cleanly at both ends); [`sigmoid`] is the one the training
/// kernels use.
#[inline(always)]
pub fn sigmoid_from_exp(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x = 2σ(2x) − 1 on [`sigmoid_from_exp`] (absolute error ~10⁻⁷);
/// [`tanh`] is the one the training kernels use.
#[inline(always)]
pub fn tanh_from_sigmoid(x: f32) -> f32 {
    2.0 * sigmoid_from_exp(2.0 * x) - 1.0
}

/// Which vector instruction set the fast paths (and gemm's matrix products)
/// run with on this CPU: AVX-512 needs the `avx512` feature (on by default).
pub fn isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(feature = "avx512") && std::arch::is_x86_feature_detected!("avx512f") {
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
    fn division_free_log1p_matches_f64() {
        let mut worst = 0f64;
        for i in 0..=100_000 {
            let t = i as f64 / 100_000.0;
            for t in [t, t * 1e-6] {
                let got = log1p_unit(t as f32) as f64;
                let want = (t as f32 as f64).ln_1p();
                if want > 0.0 {
                    worst = worst.max((got - want).abs() / want);
                }
            }
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

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

    #[test]
    fn exp_is_accurate_over_its_whole_range() {
        let mut worst = 0f64;
        for i in 0..=174_000 {
            // Within the clamp (f32 rounding can step just past 87).
            let x = (-87.0 + i as f32 * 1e-3).min(87.0);
            let rel = (exp(x) as f64 / (x as f64).exp() - 1.0).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(f32::NAN).is_nan());
        for i in -400..=400 {
            let x = i as f32 * 0.05;
            let xs = x as f64;
            let (s, ws) = (sigmoid_from_exp(x) as f64, 1.0 / (1.0 + (-xs).exp()));
            assert!((s - ws).abs() <= 3e-7, "σ({x}) {s} vs {ws}");
            let (t, wt) = (tanh_from_sigmoid(x) as f64, xs.tanh());
            assert!((t - wt).abs() <= 5e-7, "tanh({x}) {t} vs {wt}");
        }
    }
}
