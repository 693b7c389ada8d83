//! Does a series grow? A least-squares slope and window means over the
//! samples, which the soak's checks compare with their limits.

/// The least-squares slope of `ys` over `xs` (units of y per unit of x);
/// 0 with fewer than two distinct x.
pub fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return 0.0;
    }
    let mean_x = xs[..n].iter().sum::<f64>() / n as f64;
    let mean_y = ys[..n].iter().sum::<f64>() / n as f64;
    let (mut cov, mut var) = (0.0, 0.0);
    for i in 0..n {
        cov += (xs[i] - mean_x) * (ys[i] - mean_y);
        var += (xs[i] - mean_x) * (xs[i] - mean_x);
    }
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

/// Mean of `ys`, 0 when empty.
pub fn mean(ys: &[f64]) -> f64 {
    if ys.is_empty() {
        0.0
    } else {
        ys.iter().sum::<f64>() / ys.len() as f64
    }
}

/// The `k`-th of four equal parts of `ys` (k = 0..4).
pub fn quarter(ys: &[f64], k: usize) -> &[f64] {
    let n = ys.len();
    &ys[n * k / 4..n * (k + 1) / 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_its_gradient() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x + 1.0).collect();
        assert!((slope(&xs, &ys) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&xs, &[5.0; 10]), 0.0);
        assert_eq!(slope(&[1.0], &[2.0]), 0.0);
    }

    #[test]
    fn quarters_cover_the_series() {
        let ys: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(quarter(&ys, 0), &[0.0, 1.0]);
        assert_eq!(quarter(&ys, 3), &[6.0, 7.0]);
        assert_eq!(mean(quarter(&ys, 1)), 2.5);
    }
}
