//! Small dense linear algebra in f64 for host-side losses.

/// Singular value decomposition of a square `n × n` row-major matrix by one-sided Jacobi
/// rotations (Hestenes), accurate to about machine precision times the largest singular value.
///
/// Returns `(u, sigma, v)`: `u` and `v` row-major `n × n` with columns the singular vectors
/// (a column of `u` is zero where its singular value is zero), `sigma` unsorted.
pub(crate) fn svd_square(m: &[f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut w = m.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (mut alpha, mut beta, mut gamma) = (0.0, 0.0, 0.0);
                for r in 0..n {
                    let (a, b) = (w[r * n + p], w[r * n + q]);
                    alpha += a * a;
                    beta += b * b;
                    gamma += a * b;
                }
                if gamma == 0.0 || gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for mat in [&mut w, &mut v] {
                    for r in 0..n {
                        let (a, b) = (mat[r * n + p], mat[r * n + q]);
                        mat[r * n + p] = c * a - s * b;
                        mat[r * n + q] = s * a + c * b;
                    }
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let sigma: Vec<f64> = (0..n)
        .map(|k| (0..n).map(|r| w[r * n + k].powi(2)).sum::<f64>().sqrt())
        .collect();
    let mut u = w;
    for k in 0..n {
        for r in 0..n {
            u[r * n + k] = if sigma[k] > 0.0 {
                u[r * n + k] / sigma[k]
            } else {
                0.0
            };
        }
    }
    (u, sigma, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstructs_the_matrix_and_finds_known_singular_values() {
        // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5).
        let m = [3.0, 0.0, 4.0, 5.0];
        let (u, s, v) = svd_square(&m, 2);
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(
            (sorted[0] - 5f64.sqrt()).abs() < 1e-12 && (sorted[1] - 45f64.sqrt()).abs() < 1e-12
        );
        for i in 0..2 {
            for j in 0..2 {
                let r: f64 = (0..2).map(|k| u[i * 2 + k] * s[k] * v[j * 2 + k]).sum();
                assert!((r - m[i * 2 + j]).abs() < 1e-12);
            }
        }
    }
}
