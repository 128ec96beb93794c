/*  hpt_gp -- a Gaussian-process regression model for Bayesian optimization

    Kernel: k(a, b) = sf2 * (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r), with
    r^2 = sum_j s_j(a, b) / l_j^2 where s_j is the squared difference for a
    numeric input and the Hamming term [a_j != b_j] for a categorical one.
    K = k(X, X) + sn2 I.

    Fit: the negative log posterior
        0.5 y' K^-1 y + sum log diag(chol K) + n/2 log 2pi
        + sum_i 0.5 ((theta_i - mu_i) / sd_i)^2
    and its gradient, with W = alpha alpha' - K^-1 (alpha = K^-1 y),
        d/dtheta_i = -0.5 sum_ab W_ab dK_ab/dtheta_i + prior term,
    where dK/dlog l_j = sf2 5/3 (1 + sqrt5 r) exp(-sqrt5 r) s_j / l_j^2 (no
    division by r, so coincident points are harmless), dK/dlog sf2 is the
    signal part of K, and dK/dlog sn2 = sn2 I. Each evaluation is one
    Cholesky (O(n^3)), so the caller bounds n for fitting.

    When the Cholesky fails (duplicated points with a tiny noise), jitter
    grows by factors of 10 from 1e-10 sf2 until it succeeds; nothing here
    aborts.

    Prediction: mean = k*' alpha, var = sf2 - |L^-1 k*|^2, the triangular
    solves for a block of candidates at once through dtrtrs.

    Growing and shrinking: appending a point adds one row to the factor,
    l = L^-1 k(X, x) and sqrt(k(x, x) + sn2 - l'l) on the diagonal, without
    touching the rows above, so appending is O(n^2) and truncating back to
    the first n points restores their factor bit for bit. The factor
    depends only on the inputs and theta; new targets cost two triangular
    solves (w = L^-1 y, alpha = L^-T w).

    Kept predictions: a caller that keeps v = L^-1 k(X, x*) for its points
    can follow an append at O(n) each: v gains e = (k(x*, x_new) - l'v) /
    L_nn, the variance loses e^2 and the mean gains e w_n (zero when the
    appended target is the posterior mean there, a kriging believer).
*/
#include "hpt_gp.h"
#include "hpt_alloc.h"
#include <cblas.h>
#include <lapacke.h>
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SQRT5 2.23606797749978969641
#define PREDICT_BLOCK 256

struct _hpt_gp_t {
    size_t dim;           //  number of inputs
    bool *categorical;    //  per input: Hamming distance instead of squared difference
    hpt_gp_prior_t prior; //  priors and bounds of theta
    double *X;            //  conditioned inputs, n x dim row-major
    size_t n;             //  number of conditioned points
    double *theta;        //  conditioned hyperparameters, dim + 2
    double *inv_ls2;      //  1 / l_j^2 of the conditioned theta
    double sf2;           //  signal variance of the conditioned theta
    double *y;            //  conditioned targets
    size_t capacity;      //  points the arrays hold; leading dimension of L
    double jitter;        //  diagonal jitter the factorization needed
    double *L;            //  Cholesky factor of K, column-major, lower, ld = capacity
    double *alpha;        //  K^-1 y
    double *w;            //  L^-1 y, so that mean = k*' alpha = (L^-1 k*)' w
    double *ks;           //  scratch for prediction, PREDICT_BLOCK x n
};

hpt_gp_t *
hpt_gp_new (size_t dim, const bool *categorical, const hpt_gp_prior_t *prior)
{
    hpt_gp_t *self = hpt_calloc (1, sizeof (hpt_gp_t));
    self->dim = dim;
    self->categorical = hpt_calloc (dim, sizeof (bool));
    if (categorical) memcpy (self->categorical, categorical, dim * sizeof (bool));
    self->prior = *prior;
    self->theta = hpt_calloc (dim + 2, sizeof (double));
    self->inv_ls2 = hpt_calloc (dim, sizeof (double));
    return self;
}

void
hpt_gp_destroy (hpt_gp_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_gp_t *self = *self_p;
    free (self->categorical);
    free (self->X);
    free (self->y);
    free (self->theta);
    free (self->inv_ls2);
    free (self->L);
    free (self->alpha);
    free (self->w);
    free (self->ks);
    free (self);
    *self_p = NULL;
}

size_t
hpt_gp_theta_size (hpt_gp_t *self)
{
    return self->dim + 2;
}

void
hpt_gp_prior_mode (hpt_gp_t *self, double *theta)
{
    for (size_t j = 0; j < self->dim; j++)
        theta[j] = self->prior.ls_mean;
    theta[self->dim] = self->prior.sf_mean;
    theta[self->dim + 1] = self->prior.sn_mean;
}

//  Scaled squared distance between two inputs.
static double
s_r2 (hpt_gp_t *self, const double *a, const double *b, const double *inv_ls2)
{
    double r2 = 0.0;
    for (size_t j = 0; j < self->dim; j++) {
        double s;
        if (self->categorical[j])
            s = a[j] != b[j] ? 1.0 : 0.0;
        else {
            double t = a[j] - b[j];
            s = t * t;
        }
        r2 += s * inv_ls2[j];
    }
    return r2;
}

//  Matérn-5/2 correlation at squared distance r2.
static double
s_matern (double r2)
{
    double r = sqrt (r2);
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * exp (-SQRT5 * r);
}

static void
s_clamp_theta (hpt_gp_t *self, double *theta)
{
    const hpt_gp_prior_t *p = &self->prior;
    for (size_t j = 0; j < self->dim; j++)
        theta[j] = fmin (fmax (theta[j], p->ls_lo), p->ls_hi);
    theta[self->dim] = fmin (fmax (theta[self->dim], p->sf_lo), p->sf_hi);
    theta[self->dim + 1] = fmin (fmax (theta[self->dim + 1], p->sn_lo), p->sn_hi);
}

//  Builds K for theta (column-major with leading dimension ld, lower
//  triangle and diagonal) into K and factorizes it in place, adding jitter
//  on failure; *jitter receives the jitter used. Returns false if even
//  large jitter fails.
static bool
s_build_and_factor (hpt_gp_t *self, const double *X, size_t n, const double *theta, double *K,
                    size_t ld, double *inv_ls2, double *jitter)
{
    size_t d = self->dim;
    for (size_t j = 0; j < d; j++)
        inv_ls2[j] = exp (-2.0 * theta[j]);
    double sf2 = exp (theta[d]), sn2 = exp (theta[d + 1]);
    *jitter = 0.0;
    for (int attempt = 0; attempt < 8; attempt++) {
        for (size_t b = 0; b < n; b++) {
            K[b * ld + b] = sf2 + sn2 + *jitter;
            for (size_t a = b + 1; a < n; a++)
                K[b * ld + a] = sf2 * s_matern (s_r2 (self, X + a * d, X + b * d, inv_ls2));
        }
        if (n == 0 ||
            LAPACKE_dpotrf_work (LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)ld) == 0)
            return true;
        *jitter = *jitter == 0.0 ? 1e-10 * sf2 : *jitter * 10.0;
    }
    return false;
}

static double
s_prior_term (const double *theta, size_t i, double mean, double sd, double *grad)
{
    double z = (theta[i] - mean) / sd;
    if (grad) grad[i] += z / sd;
    return 0.5 * z * z;
}

double
hpt_gp_neg_log_posterior (hpt_gp_t *self, const double *X, const double *y, size_t n,
                          const double *theta, double *grad)
{
    size_t d = self->dim;
    double *K = hpt_malloc (n * n * sizeof (double));
    double *inv_ls2 = hpt_malloc (d * sizeof (double));
    double *alpha = hpt_malloc (n * sizeof (double));
    double result = INFINITY, jitter;
    if (!s_build_and_factor (self, X, n, theta, K, n, inv_ls2, &jitter)) goto done;
    memcpy (alpha, y, n * sizeof (double));
    LAPACKE_dpotrs_work (LAPACK_COL_MAJOR, 'L', (lapack_int)n, 1, K, (lapack_int)n, alpha,
                         (lapack_int)n);
    double nll = 0.5 * cblas_ddot ((int)n, y, 1, alpha, 1) + 0.5 * (double)n * log (2 * M_PI);
    for (size_t a = 0; a < n; a++)
        nll += log (K[a * n + a]);
    if (grad) {
        memset (grad, 0, (d + 2) * sizeof (double));
        //  K now holds L; dpotri turns it into K^-1 (lower triangle).
        LAPACKE_dpotri_work (LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n);
        double sf2 = exp (theta[d]), sn2 = exp (theta[d + 1]);
        double trace_w = 0.0;
        for (size_t a = 0; a < n; a++)
            trace_w += alpha[a] * alpha[a] - K[a * n + a];
        grad[d + 1] = -0.5 * sn2 * trace_w;
        grad[d] = -0.5 * sf2 * trace_w;
        for (size_t b = 0; b < n; b++) {
            const double *xb = X + b * d;
            for (size_t a = b + 1; a < n; a++) {
                const double *xa = X + a * d;
                double w = alpha[a] * alpha[b] - K[b * n + a];
                double r2 = s_r2 (self, xa, xb, inv_ls2);
                double r = sqrt (r2), e = exp (-SQRT5 * r);
                grad[d] -= w * sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * e;
                double common = -w * sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e;
                for (size_t j = 0; j < d; j++) {
                    double s;
                    if (self->categorical[j])
                        s = xa[j] != xb[j] ? 1.0 : 0.0;
                    else {
                        double t = xa[j] - xb[j];
                        s = t * t;
                    }
                    grad[j] += common * s * inv_ls2[j];
                }
            }
        }
    }
    const hpt_gp_prior_t *p = &self->prior;
    for (size_t j = 0; j < d; j++)
        nll += s_prior_term (theta, j, p->ls_mean, p->ls_sd, grad);
    nll += s_prior_term (theta, d, p->sf_mean, p->sf_sd, grad);
    nll += s_prior_term (theta, d + 1, p->sn_mean, p->sn_sd, grad);
    result = isfinite (nll) ? nll : INFINITY;
done:
    free (K);
    free (inv_ls2);
    free (alpha);
    return result;
}

//  L-BFGS with a backtracking (Armijo) line search; iterates stay inside
//  the bounds by clamping. Improves x in place and returns its value.
static double
s_lbfgs (hpt_gp_t *self, const double *X, const double *y, size_t n, double *x, int max_iter)
{
    enum { MEM = 6 };
    size_t p = self->dim + 2;
    double *g = hpt_calloc (p, sizeof (double)), *gn = hpt_calloc (p, sizeof (double));
    double *xn = hpt_calloc (p, sizeof (double)), *dir = hpt_calloc (p, sizeof (double));
    double *S = hpt_calloc (MEM * p, sizeof (double)), *Y = hpt_calloc (MEM * p, sizeof (double));
    double rho[MEM], coef[MEM];
    int stored = 0, head = 0;
    s_clamp_theta (self, x);
    double f = hpt_gp_neg_log_posterior (self, X, y, n, x, g);
    for (int it = 0; it < max_iter && isfinite (f); it++) {
        //  Two-loop recursion: dir = -H g.
        for (size_t i = 0; i < p; i++)
            dir[i] = -g[i];
        for (int k = 0; k < stored; k++) {
            int slot = (head - 1 - k + MEM) % MEM;
            coef[slot] = rho[slot] * cblas_ddot ((int)p, S + slot * p, 1, dir, 1);
            cblas_daxpy ((int)p, -coef[slot], Y + slot * p, 1, dir, 1);
        }
        if (stored > 0) {
            int last = (head - 1 + MEM) % MEM;
            double yy = cblas_ddot ((int)p, Y + last * p, 1, Y + last * p, 1);
            cblas_dscal ((int)p, 1.0 / (rho[last] * yy), dir, 1);
        }
        for (int k = stored - 1; k >= 0; k--) {
            int slot = (head - 1 - k + MEM) % MEM;
            double beta = rho[slot] * cblas_ddot ((int)p, Y + slot * p, 1, dir, 1);
            cblas_daxpy ((int)p, coef[slot] - beta, S + slot * p, 1, dir, 1);
        }
        double slope = cblas_ddot ((int)p, g, 1, dir, 1);
        if (!(slope < 0)) {
            for (size_t i = 0; i < p; i++)
                dir[i] = -g[i];
            slope = cblas_ddot ((int)p, g, 1, dir, 1);
            stored = 0;
        }
        double norm = sqrt (cblas_ddot ((int)p, dir, 1, dir, 1));
        double step = norm > 2.0 ? 2.0 / norm : 1.0; //  at most 2 in log space per step
        double fn = INFINITY;
        bool accepted = false;
        for (int tries = 0; tries < 20; tries++) {
            for (size_t i = 0; i < p; i++)
                xn[i] = x[i] + step * dir[i];
            s_clamp_theta (self, xn);
            double moved = 0.0;
            for (size_t i = 0; i < p; i++)
                moved += g[i] * (xn[i] - x[i]);
            fn = hpt_gp_neg_log_posterior (self, X, y, n, xn, gn);
            if (isfinite (fn) && fn <= f + 1e-4 * fmin (moved, 0.0)) {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if (!accepted) break;
        double *s = S + head * p, *yv = Y + head * p;
        for (size_t i = 0; i < p; i++) {
            s[i] = xn[i] - x[i];
            yv[i] = gn[i] - g[i];
        }
        double sy = cblas_ddot ((int)p, s, 1, yv, 1);
        if (sy > 1e-12) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % MEM;
            if (stored < MEM) stored++;
        }
        double change = f - fn;
        memcpy (x, xn, p * sizeof (double));
        memcpy (g, gn, p * sizeof (double));
        f = fn;
        if (change < 1e-7 * (1.0 + fabs (f))) break;
    }
    free (g);
    free (gn);
    free (xn);
    free (dir);
    free (S);
    free (Y);
    return f;
}

double
hpt_gp_fit (hpt_gp_t *self, const double *X, const double *y, size_t n, const double *starts,
            size_t nstarts, int max_iter, double *theta_out)
{
    size_t p = self->dim + 2;
    double best = INFINITY;
    double *x = hpt_malloc (p * sizeof (double));
    memcpy (theta_out, starts, p * sizeof (double));
    s_clamp_theta (self, theta_out);
    for (size_t s = 0; s < nstarts; s++) {
        memcpy (x, starts + s * p, p * sizeof (double));
        double f = s_lbfgs (self, X, y, n, x, max_iter);
        if (f < best) {
            best = f;
            memcpy (theta_out, x, p * sizeof (double));
        }
    }
    free (x);
    return best;
}

//  w = L^-1 y and alpha = L^-T w = K^-1 y from the factor: O(n^2).
static void
s_solve_alpha (hpt_gp_t *self)
{
    lapack_int n = (lapack_int)self->n, ld = (lapack_int)self->capacity;
    memcpy (self->w, self->y, self->n * sizeof (double));
    if (n > 0) LAPACKE_dtrtrs_work (LAPACK_COL_MAJOR, 'L', 'N', 'N', n, 1, self->L, ld, self->w, n);
    memcpy (self->alpha, self->w, self->n * sizeof (double));
    if (n > 0)
        LAPACKE_dtrtrs_work (LAPACK_COL_MAJOR, 'L', 'T', 'N', n, 1, self->L, ld, self->alpha, n);
}

//  Makes room for capacity points, keeping the data and the factor.
static void
s_reserve (hpt_gp_t *self, size_t capacity)
{
    size_t d = self->dim, n = self->n;
    double *L = hpt_malloc (capacity * capacity * sizeof (double));
    for (size_t c = 0; c < n; c++)
        memcpy (L + c * capacity, self->L + c * self->capacity, n * sizeof (double));
    free (self->L);
    self->L = L;
    self->X = hpt_realloc (self->X, capacity * d * sizeof (double));
    self->y = hpt_realloc (self->y, capacity * sizeof (double));
    self->alpha = hpt_realloc (self->alpha, capacity * sizeof (double));
    self->w = hpt_realloc (self->w, capacity * sizeof (double));
    self->ks = hpt_realloc (self->ks, capacity * PREDICT_BLOCK * sizeof (double));
    self->capacity = capacity;
}

bool
hpt_gp_condition (hpt_gp_t *self, const double *X, const double *y, size_t n, const double *theta)
{
    size_t d = self->dim;
    self->n = 0;
    if (n + 16 > self->capacity || self->capacity > 4 * (n + 16)) s_reserve (self, n + 16);
    memcpy (self->X, X, n * d * sizeof (double));
    memcpy (self->y, y, n * sizeof (double));
    memcpy (self->theta, theta, (d + 2) * sizeof (double));
    s_clamp_theta (self, self->theta);
    self->sf2 = exp (self->theta[d]);
    if (!s_build_and_factor (self, X, n, self->theta, self->L, self->capacity, self->inv_ls2,
                             &self->jitter))
        return false;
    self->n = n;
    s_solve_alpha (self);
    return true;
}

void
hpt_gp_append (hpt_gp_t *self, const double *x, double y)
{
    size_t n = self->n, d = self->dim, ld;
    if (n == self->capacity) s_reserve (self, 2 * self->capacity + 16);
    ld = self->capacity;
    //  New row of the factor: l = L^-1 k(X, x), diagonal sqrt(k(x,x) - l'l).
    double *l = hpt_malloc ((n ? n : 1) * sizeof (double));
    for (size_t a = 0; a < n; a++)
        l[a] = self->sf2 * s_matern (s_r2 (self, x, self->X + a * d, self->inv_ls2));
    if (n > 0)
        LAPACKE_dtrtrs_work (LAPACK_COL_MAJOR, 'L', 'N', 'N', (lapack_int)n, 1, self->L,
                             (lapack_int)ld, l, (lapack_int)n);
    double diag = self->sf2 + exp (self->theta[d + 1]) + self->jitter;
    for (size_t a = 0; a < n; a++) {
        self->L[a * ld + n] = l[a];
        diag -= l[a] * l[a];
    }
    //  A point on top of another one: its own jitter keeps the factor valid.
    self->L[n * ld + n] = sqrt (fmax (diag, 1e-10 * self->sf2));
    free (l);
    memcpy (self->X + n * d, x, d * sizeof (double));
    self->y[n] = y;
    self->n = n + 1;
    s_solve_alpha (self);
}

void
hpt_gp_truncate (hpt_gp_t *self, size_t n)
{
    if (n >= self->n) return;
    self->n = n;
    s_solve_alpha (self);
}

void
hpt_gp_set_targets (hpt_gp_t *self, const double *y)
{
    memcpy (self->y, y, self->n * sizeof (double));
    s_solve_alpha (self);
}

size_t
hpt_gp_count (hpt_gp_t *self)
{
    return self->n;
}

//  Mean and variance of count points from their kernel rows: ks holds
//  k(X, x_c) for each (row c, n values) and receives L^-1 k(X, x_c), the
//  n x count right-hand side of one triangular solve when read column-major.
static void
s_predict_block (hpt_gp_t *self, const double *Xs, size_t count, double *ks, double *mean,
                 double *var)
{
    size_t n = self->n, d = self->dim;
    for (size_t c = 0; c < count; c++) {
        const double *x = Xs + c * d;
        double *row = ks + c * n;
        double mu = 0.0;
        for (size_t a = 0; a < n; a++) {
            row[a] = self->sf2 * s_matern (s_r2 (self, x, self->X + a * d, self->inv_ls2));
            mu += row[a] * self->alpha[a];
        }
        mean[c] = mu;
    }
    if (n > 0)
        LAPACKE_dtrtrs_work (LAPACK_COL_MAJOR, 'L', 'N', 'N', (lapack_int)n, (lapack_int)count,
                             self->L, (lapack_int)self->capacity, ks, (lapack_int)n);
    for (size_t c = 0; c < count; c++) {
        double v = self->sf2;
        if (n > 0) v -= cblas_ddot ((int)n, ks + c * n, 1, ks + c * n, 1);
        var[c] = fmax (v, 1e-12 * self->sf2);
    }
}

void
hpt_gp_predict (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var)
{
    hpt_gp_predict_keep (self, Xs, m, mean, var, NULL, 0);
}

void
hpt_gp_predict_keep (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var,
                     double *V, size_t ldv)
{
    size_t n = self->n;
    assert (!V || ldv >= n);
    for (size_t start = 0; start < m; start += PREDICT_BLOCK) {
        size_t count = m - start < PREDICT_BLOCK ? m - start : PREDICT_BLOCK;
        s_predict_block (self, Xs + start * self->dim, count, self->ks, mean + start, var + start);
        for (size_t c = 0; V && c < count; c++)
            memcpy (V + (start + c) * ldv, self->ks + c * n, n * sizeof (double));
    }
}

void
hpt_gp_update_kept (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var,
                    double *V, size_t ldv)
{
    size_t p = self->n - 1, d = self->dim, ld = self->capacity;
    assert (self->n > 0 && ldv >= self->n);
    //  Row p of the factor is [l', L_pp]; the kept vectors grow by
    //  e = (k(x, x_p) - l' v) / L_pp, the variance loses e^2 and the mean
    //  gains e w_p (w_p = 0 when y_p is the mean at x_p: a believer).
    double *l = hpt_malloc ((p ? p : 1) * sizeof (double));
    double *lv = hpt_malloc ((m ? m : 1) * sizeof (double));
    for (size_t a = 0; a < p; a++)
        l[a] = self->L[a * ld + p];
    if (p > 0 && m > 0)
        cblas_dgemv (CblasRowMajor, CblasNoTrans, (int)m, (int)p, 1.0, V, (int)ldv, l, 1, 0.0, lv,
                     1);
    else
        memset (lv, 0, (m ? m : 1) * sizeof (double));
    const double *xp = self->X + p * d;
    double lpp = self->L[p * ld + p], wp = self->w[p];
    for (size_t c = 0; c < m; c++) {
        double k = self->sf2 * s_matern (s_r2 (self, Xs + c * d, xp, self->inv_ls2));
        double e = (k - lv[c]) / lpp;
        V[c * ldv + p] = e;
        mean[c] += e * wp;
        var[c] = fmax (var[c] - e * e, 1e-12 * self->sf2);
    }
    free (l);
    free (lv);
}
