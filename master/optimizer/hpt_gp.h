/*  hpt_gp -- a Gaussian-process regression model for Bayesian optimization

    Zero-mean GP with a Matérn-5/2 kernel and one length scale per input
    (ARD). Numeric inputs live in the unit cube; a categorical input holds
    a category index and contributes a Hamming distance (0 when equal, 1
    when not) divided by its squared length scale, so every pair of
    categories is equally far apart. The hyperparameters are a vector theta
    of log values: d log length scales, the log signal variance and the log
    noise variance. They are fitted by maximizing the marginal likelihood
    times log-normal priors (MAP) with L-BFGS from several starts; the
    caller chooses the starts, so it can warm-start from an earlier fit.
    The outputs are expected standardized (mean 0, variance about 1).

    Linear algebra goes through LAPACKE (dpotrf, dpotrs, dpotri, dtrtrs);
    the caller pins OpenBLAS to one thread.
*/
#ifndef HPT_GP_H_INCLUDED
#define HPT_GP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _hpt_gp_t hpt_gp_t;

//  Priors and bounds of the hyperparameters, all on log values.
typedef struct {
    double ls_mean; //  prior mean of each log length scale
    double ls_sd;   //  prior sd of each log length scale
    double ls_lo;   //  bounds of each log length scale
    double ls_hi;
    double sf_mean; //  prior mean of the log signal variance
    double sf_sd;   //  its prior sd
    double sf_lo;   //  its bounds
    double sf_hi;
    double sn_mean; //  prior mean of the log noise variance
    double sn_sd;   //  its prior sd
    double sn_lo;   //  its bounds; sn_lo is the noise floor
    double sn_hi;
} hpt_gp_prior_t;

//  Creates a model of dim inputs; categorical[j] says whether input j is a
//  category index (the array is copied; NULL means all numeric).
hpt_gp_t *hpt_gp_new (size_t dim, const bool *categorical, const hpt_gp_prior_t *prior);

//  Destroys the model and nulls the pointer.
void hpt_gp_destroy (hpt_gp_t **self_p);

//  Number of hyperparameters: dim + 2.
size_t hpt_gp_theta_size (hpt_gp_t *self);

//  The prior mode of theta, written into theta (theta_size values).
void hpt_gp_prior_mode (hpt_gp_t *self, double *theta);

//  Fits theta by MAP on n points (X row-major n x dim, y n values, both
//  borrowed) from nstarts starting vectors (row-major nstarts x
//  theta_size), each improved by at most max_iter L-BFGS steps. Writes the
//  best theta into theta_out and returns its negative log posterior
//  (+inf when every start failed; theta_out then holds the first start).
double hpt_gp_fit (hpt_gp_t *self, const double *X, const double *y, size_t n, const double *starts,
                   size_t nstarts, int max_iter, double *theta_out);

//  Conditions the model on n points with hyperparameters theta: copies the
//  data and factorizes the kernel matrix (adding jitter if needed).
//  Returns false only when the matrix cannot be factorized at all.
bool hpt_gp_condition (hpt_gp_t *self, const double *X, const double *y, size_t n,
                       const double *theta);

//  Adds one point (x: dim values, borrowed) with target y to the
//  conditioned model without refactorizing: O(n^2). The earlier points and
//  their factor are unchanged, so truncating back is exact.
void hpt_gp_append (hpt_gp_t *self, const double *x, double y);

//  Drops every point after the first n (no-op when n >= count): O(n^2).
void hpt_gp_truncate (hpt_gp_t *self, size_t n);

//  Replaces the targets of the conditioned points (count values, borrowed)
//  and keeps the factor, which depends only on the inputs: O(n^2).
void hpt_gp_set_targets (hpt_gp_t *self, const double *y);

//  Number of points the model is conditioned on.
size_t hpt_gp_count (hpt_gp_t *self);

//  Posterior mean and variance (of the latent function, without noise) at
//  m points Xs (row-major m x dim). mean and var are the caller's arrays
//  of m values. Needs a successful hpt_gp_condition.
void hpt_gp_predict (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var);

//  As hpt_gp_predict, and keeps for each point c the vector v_c =
//  L^-1 k(X, x_c) in V (row c, leading dimension ldv >= count), which lets
//  hpt_gp_update_kept follow appends at O(n) per point instead of O(n^2).
//  V is the caller's array of m x ldv values; NULL keeps nothing.
void hpt_gp_predict_keep (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var,
                          double *V, size_t ldv);

//  After one hpt_gp_append, brings the mean, variance and kept vectors of
//  m points (from hpt_gp_predict_keep or this function, on the model just
//  before the append) up to date: O(n) per point, one matrix-vector
//  product for all. ldv must hold the new count.
void hpt_gp_update_kept (hpt_gp_t *self, const double *Xs, size_t m, double *mean, double *var,
                         double *V, size_t ldv);

//  Negative log posterior of theta on the data given (for tests); grad
//  (theta_size values) receives its gradient when not NULL.
double hpt_gp_neg_log_posterior (hpt_gp_t *self, const double *X, const double *y, size_t n,
                                 const double *theta, double *grad);

#endif
