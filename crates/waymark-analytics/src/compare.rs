//! Before and after: did a measure move? Each kind of measure has the test that fits it.
//!
//! - **Proportions** (completion, conversion, share over target, repeat contacts): the
//!   two-proportion z-test (pooled standard error for the test, unpooled for the Wald interval of
//!   the difference), as `statsmodels`' `proportions_ztest` and `confint_proportions_2indep`.
//! - **Times** (median time): the Mann–Whitney U test (normal approximation with the tie
//!   correction and the continuity correction, as SciPy's `mannwhitneyu(method="asymptotic")`),
//!   and a bootstrap percentile interval of the difference of the medians (1,000 resamples from
//!   a fixed seed, so the same samples always give the same interval).
//! - **Scores** (CSAT, CES, and NPS coded +100/0/−100 per answer so that its mean is the NPS):
//!   Welch's t-test with the Welch–Satterthwaite degrees of freedom, as SciPy's
//!   `ttest_ind(equal_var=False)`, and its interval.
//!
//! - **Volumes** (instances a day): the Wald test of the difference of two Poisson rates, counts
//!   over the days on each side, as `statsmodels`' `test_poisson_2indep(method="wald",
//!   compare="diff")` and its interval.
//!
//! Every interval is at 95 %; a result is called a movement when p < 0.05. With fewer than
//! [`MIN_SAMPLE`] observations on either side nothing is claimed.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::stats;

/// Below this many observations on a side, no test is run.
pub const MIN_SAMPLE: usize = 10;
/// The confidence level of every interval, and the significance level (1 − it).
pub const CONFIDENCE: f64 = 0.95;
/// Bootstrap resamples for the interval of a difference of medians.
pub const RESAMPLES: usize = 1_000;
/// Larger samples are thinned (evenly, keeping order) to this size for the bootstrap, whose cost
/// grows with the sample; the test itself uses every observation.
pub const BOOTSTRAP_SAMPLE: usize = 5_000;

/// Which test was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    TwoProportionZ,
    MannWhitney,
    WelchT,
    PoissonRates,
}

impl Test {
    pub fn name(self) -> &'static str {
        match self {
            Test::TwoProportionZ => "two-proportion z-test",
            Test::MannWhitney => "Mann–Whitney U test",
            Test::WelchT => "Welch's t-test",
            Test::PoissonRates => "Poisson rate test",
        }
    }
}

/// The outcome of comparing a measure before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub test: Test,
    /// The measure on each side (share, median, or mean) and the sample sizes.
    pub before: f64,
    pub after: f64,
    pub n_before: usize,
    pub n_after: usize,
    /// After minus before, with its 95 % interval.
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    /// The test's statistic (z, or U of the after sample, or t) and two-sided p-value.
    pub statistic: f64,
    pub p: f64,
}

impl Comparison {
    /// Whether the difference is significant at the 5 % level.
    pub fn moved(&self) -> bool {
        self.p < 1.0 - CONFIDENCE
    }
}

fn normal() -> Normal {
    // Mean 0, deviation 1 are valid parameters.
    Normal::standard()
}

/// The two-sided p-value of a standard normal statistic.
fn two_sided_z(z: f64) -> f64 {
    (2.0 * normal().sf(z.abs())).clamp(0.0, 1.0)
}

fn z_critical() -> f64 {
    normal().inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0)
}

/// Two proportions: `x` successes of `n`, before and after.
pub fn proportions(x1: usize, n1: usize, x2: usize, n2: usize) -> Option<Comparison> {
    if n1 < MIN_SAMPLE || n2 < MIN_SAMPLE || x1 > n1 || x2 > n2 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (x1 as f64 / n1f, x2 as f64 / n2f);
    let difference = p2 - p1;
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se_test = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let (statistic, p) = if se_test > 0.0 {
        let z = difference / se_test;
        (z, two_sided_z(z))
    } else {
        // Both sides all successes or all failures: no evidence of a change.
        (0.0, 1.0)
    };
    let se = (p1 * (1.0 - p1) / n1f + p2 * (1.0 - p2) / n2f).sqrt();
    let margin = z_critical() * se;
    Some(Comparison {
        test: Test::TwoProportionZ,
        before: p1,
        after: p2,
        n_before: n1,
        n_after: n2,
        difference,
        low: difference - margin,
        high: difference + margin,
        statistic,
        p,
    })
}

/// Two rates: `x` events over `t` days (any unit of exposure), before and after.
pub fn rates(x1: usize, t1: f64, x2: usize, t2: f64) -> Option<Comparison> {
    if x1 + x2 < MIN_SAMPLE || t1 <= 0.0 || t2 <= 0.0 {
        return None;
    }
    let (r1, r2) = (x1 as f64 / t1, x2 as f64 / t2);
    let difference = r2 - r1;
    let se = (x1 as f64 / (t1 * t1) + x2 as f64 / (t2 * t2)).sqrt();
    let (statistic, p) = if se > 0.0 {
        let z = difference / se;
        (z, two_sided_z(z))
    } else {
        (0.0, 1.0)
    };
    let margin = z_critical() * se;
    Some(Comparison {
        test: Test::PoissonRates,
        before: r1,
        after: r2,
        n_before: x1,
        n_after: x2,
        difference,
        low: difference - margin,
        high: difference + margin,
        statistic,
        p,
    })
}

/// Two samples of times (or any values compared by rank).
pub fn times(before: &[f64], after: &[f64]) -> Option<Comparison> {
    let (n1, n2) = (before.len(), after.len());
    if n1 < MIN_SAMPLE || n2 < MIN_SAMPLE {
        return None;
    }
    let (u2, p) = mann_whitney(before, after);
    let (m1, m2) = (median(before), median(after));
    let (low, high) = bootstrap_median_difference(before, after);
    Some(Comparison {
        test: Test::MannWhitney,
        before: m1,
        after: m2,
        n_before: n1,
        n_after: n2,
        difference: m2 - m1,
        low,
        high,
        statistic: u2,
        p,
    })
}

/// Two samples of scores.
pub fn scores(before: &[f64], after: &[f64]) -> Option<Comparison> {
    let (n1, n2) = (before.len(), after.len());
    if n1 < MIN_SAMPLE || n2 < MIN_SAMPLE {
        return None;
    }
    let (m1, m2) = (stats::mean(before), stats::mean(after));
    let (v1, v2) = (variance(before, m1), variance(after, m2));
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (a, b) = (v1 / n1f, v2 / n2f);
    let se = (a + b).sqrt();
    let difference = m2 - m1;
    if se == 0.0 {
        let p = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Comparison {
            test: Test::WelchT,
            before: m1,
            after: m2,
            n_before: n1,
            n_after: n2,
            difference,
            low: difference,
            high: difference,
            statistic: if difference == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(difference)
            },
            p,
        });
    }
    let df = (a + b).powi(2) / (a * a / (n1f - 1.0) + b * b / (n2f - 1.0));
    let t = difference / se;
    let student = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = (2.0 * student.sf(t.abs())).clamp(0.0, 1.0);
    let margin = student.inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0) * se;
    Some(Comparison {
        test: Test::WelchT,
        before: m1,
        after: m2,
        n_before: n1,
        n_after: n2,
        difference,
        low: difference - margin,
        high: difference + margin,
        statistic: t,
        p,
    })
}

/// The sample variance (n − 1).
fn variance(values: &[f64], mean: f64) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    stats::summarize(&mut sorted).median
}

/// U of the `after` sample and the two-sided p-value: ranks with midranks for ties, the normal
/// approximation with the tie correction and a continuity correction of ½.
fn mann_whitney(before: &[f64], after: &[f64]) -> (f64, f64) {
    let (n1, n2) = (before.len() as f64, after.len() as f64);
    let mut all: Vec<(f64, bool)> = before
        .iter()
        .map(|&v| (v, false))
        .chain(after.iter().map(|&v| (v, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_after = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied.powi(3) - tied;
        rank_sum_after += all[i..=j].iter().filter(|(_, after)| *after).count() as f64 * rank;
        i = j + 1;
    }
    let u2 = rank_sum_after - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let total = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
    if variance <= 0.0 {
        return (u2, 1.0);
    }
    // SciPy takes the larger U and subtracts ½ toward the mean; a U at the mean gives a
    // negative z, and a p-value capped at 1.
    let big = u2.max(n1 * n2 - u2);
    let z = (big - mean - 0.5) / variance.sqrt();
    (u2, (2.0 * normal().sf(z)).clamp(0.0, 1.0))
}

/// A 95 % percentile interval of median(after) − median(before) from resamples of each.
fn bootstrap_median_difference(before: &[f64], after: &[f64]) -> (f64, f64) {
    let (before, after) = (thin(before), thin(after));
    let mut rng = fastrand::Rng::with_seed(0x0057_4159_4d41_524b);
    let mut differences = Vec::with_capacity(RESAMPLES);
    let mut scratch = Vec::new();
    let mut resampled_median = |sample: &[f64], rng: &mut fastrand::Rng| {
        scratch.clear();
        scratch.extend((0..sample.len()).map(|_| sample[rng.usize(..sample.len())]));
        select_median(&mut scratch)
    };
    for _ in 0..RESAMPLES {
        let b = resampled_median(&before, &mut rng);
        let a = resampled_median(&after, &mut rng);
        differences.push(a - b);
    }
    differences.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    (
        stats::quantile_sorted(&differences, tail),
        stats::quantile_sorted(&differences, 1.0 - tail),
    )
}

/// The median (the mean of the two middle values for an even count, as NumPy's), found by
/// selection in linear time instead of a sort: the bootstrap takes thousands of them.
fn select_median(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let (left, middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *middle;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// At most [`BOOTSTRAP_SAMPLE`] values, taken evenly.
fn thin(values: &[f64]) -> Vec<f64> {
    if values.len() <= BOOTSTRAP_SAMPLE {
        return values.to_vec();
    }
    let step = values.len() as f64 / BOOTSTRAP_SAMPLE as f64;
    (0..BOOTSTRAP_SAMPLE)
        .map(|k| values[(k as f64 * step) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selected_median_is_the_sorted_one() {
        let mut rng = fastrand::Rng::with_seed(3);
        for n in 1..60 {
            let values: Vec<f64> = (0..n).map(|_| f64::from(rng.u8(0..20))).collect();
            let mut sorted = values.clone();
            let expected = stats::summarize(&mut sorted).median;
            assert_eq!(select_median(&mut values.clone()), expected, "{values:?}");
        }
    }

    #[test]
    fn too_few_observations_claim_nothing() {
        assert!(proportions(1, 5, 3, 50).is_none());
        assert!(times(&[1.0; 9], &[2.0; 30]).is_none());
        assert!(scores(&[1.0; 30], &[2.0; 9]).is_none());
    }

    #[test]
    fn a_large_change_moves_and_no_change_does_not() {
        let moved = proportions(400, 1000, 600, 1000).expect("enough");
        assert!(moved.moved() && moved.low > 0.15 && moved.high < 0.25);
        let same = proportions(500, 1000, 500, 1000).expect("enough");
        assert!(!same.moved() && same.low < 0.0 && same.high > 0.0);
        let before: Vec<f64> = (0..200).map(|k| f64::from(k % 50)).collect();
        let after: Vec<f64> = before.iter().map(|v| v + 20.0).collect();
        let faster = times(&after, &before).expect("enough");
        assert!(faster.moved() && faster.difference == -20.0);
        assert!(faster.low <= -20.0 && faster.high >= -20.0, "{faster:?}");
        let flat = scores(&[4.0; 50], &[4.0; 50]).expect("enough");
        assert!(!flat.moved());
    }
}
