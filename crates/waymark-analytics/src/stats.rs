//! Summary statistics, computed the way NumPy does (so results match PM4Py).

/// Mean, median, min, max and 90th percentile of some values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub p90: f64,
}

/// Summarises values; reorders them. Empty input gives zeros with `count == 0`.
pub fn summarize(values: &mut [f64]) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    Summary {
        count: n,
        mean: mean(values),
        median: quantile_sorted(values, 0.5),
        min: values[0],
        max: values[n - 1],
        p90: quantile_sorted(values, 0.9),
    }
}

/// The arithmetic mean, summed pairwise for accuracy on long inputs.
pub fn mean(values: &[f64]) -> f64 {
    fn sum(values: &[f64]) -> f64 {
        if values.len() <= 128 {
            values.iter().sum()
        } else {
            let (a, b) = values.split_at(values.len() / 2);
            sum(a) + sum(b)
        }
    }
    if values.is_empty() {
        0.0
    } else {
        sum(values) / values.len() as f64
    }
}

/// The median without sorting everything (reorders the values).
pub fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let (_, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..n / 2]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// NumPy's default (linear) quantile of sorted values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_numpy() {
        let mut odd = [5.0, 1.0, 3.0];
        assert_eq!(median(&mut odd), 3.0);
        let mut even = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut even), 2.5);
        let summary = summarize(&mut [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(summary.median, 5.5);
        assert!((summary.p90 - 9.1).abs() < 1e-12);
        assert_eq!((summary.min, summary.max, summary.mean), (1.0, 10.0, 5.5));
    }
}
