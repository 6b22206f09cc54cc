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

/// The mean in seconds of values whose exact sum in microseconds is `total`: the one formula
/// the embedded engine and a store that sums on its servers (ClickHouse) share, so both give the
/// same bits.
pub fn mean_seconds(total: i128, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total as f64 / count as f64 / 1e6
    }
}

/// The places of the sorted values [`summarize_micros`] reads: the first, the last, and those
/// around the median and the 90th percentile.
pub fn summary_places(count: usize) -> Vec<usize> {
    if count == 0 {
        return Vec::new();
    }
    let mut places = vec![0, count - 1];
    for q in [0.5, 0.9] {
        let position = q * (count - 1) as f64;
        places.push(position.floor() as usize);
        places.push(position.ceil() as usize);
    }
    places.sort_unstable();
    places.dedup();
    places
}

/// [`summarize`] of durations in microseconds, from their count, their exact sum and the sorted
/// values at [`summary_places`] (`at(place)`): the mean from the exact sum, the rest as
/// `summarize` computes them on the values in seconds.
pub fn summarize_micros(count: usize, total: i128, at: impl Fn(usize) -> i64) -> Summary {
    if count == 0 {
        return Summary::default();
    }
    let seconds = |place: usize| at(place) as f64 / 1e6;
    let quantile = |q: f64| {
        let position = q * (count - 1) as f64;
        let below = position.floor() as usize;
        let above = position.ceil() as usize;
        let fraction = position - below as f64;
        seconds(below) + (seconds(above) - seconds(below)) * fraction
    };
    Summary {
        count,
        mean: mean_seconds(total, count as u64),
        median: quantile(0.5),
        min: seconds(0),
        max: seconds(count - 1),
        p90: quantile(0.9),
    }
}

/// The median in seconds of `count` values in microseconds, from the two in the middle of the
/// sorted values (`lower` at `(count - 1) / 2`, `upper` at `count / 2`), as [`median`] computes
/// it on the values in seconds.
pub fn median_micros(count: usize, lower: i64, upper: i64) -> f64 {
    let upper = upper as f64 / 1e6;
    if count % 2 == 1 {
        upper
    } else {
        (lower as f64 / 1e6 + upper) / 2.0
    }
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
