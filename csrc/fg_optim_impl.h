/* fg_optim_impl.h: the loop bodies of fg_optim.h, written once for REAL = float/double.
 * Included only by fg_optim.h. Each loop mirrors the function of the same name in
 * fastgd/reference/optim.py term for term; keep the two in step. The branches test
 * per-step constants, which the compiler hoists out of the loops (-funswitch-loops). */

/* mirrors reference.optim.flush_subnormal: with the option on (flush, a compile-time
 * constant of every body below), a state value whose magnitude is below the smallest
 * normal is stored as +0; the step's own update has used it unflushed. NaN compares false
 * and is kept. One compare and blend per stored value, on values already in registers. */
static FG_INLINE REAL FG_SUFFIX(fg_keep)(REAL x, const int flush) {
    return (flush && FG_FABS(x) < FG_TINY) ? (REAL)0 : x;
}
#define FG_KEEP(x) FG_SUFFIX(fg_keep)((x), flush)

/* Every rule's body takes flush as a constant: called once with 0 and once with 1, so the
 * default (off) loop is the loop it was before the option existed. */
#define FG_WITH_FLUSH(s, call_0, call_1) \
    do { if ((s)->flush_subnormal_state) { call_1; } else { call_0; } } while (0)

/* mirrors reference.optim.sgd_step */
static FG_INLINE void FG_SUFFIX(fg_sgd_body)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                             const REAL *restrict g, REAL *restrict buf,
                                             const int flush) {
    const REAL lr = (REAL)s->lr, mu = (REAL)s->momentum, wd = (REAL)s->weight_decay;
    const REAL damp = (REAL)(1.0 - s->dampening);
    const int has_wd = s->weight_decay != 0.0, maximize = s->maximize;
    const int nesterov = s->nesterov, first = s->first_step;
    if (s->momentum == 0.0) {
        for (ptrdiff_t i = 0; i < n; i++) {
            REAL gi = maximize ? -g[i] : g[i];
            if (has_wd) gi = gi + wd * p[i];
            p[i] = p[i] - lr * gi;
        }
    } else if (s->lr_in_momentum) {
        for (ptrdiff_t i = 0; i < n; i++) {
            REAL gi = maximize ? -g[i] : g[i];
            if (has_wd) gi = gi + wd * p[i];
            const REAL b = mu * buf[i] - lr * gi;
            buf[i] = FG_KEEP(b);
            p[i] = nesterov ? p[i] + (mu * b - lr * gi) : p[i] + b;
        }
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            REAL gi = maximize ? -g[i] : g[i];
            if (has_wd) gi = gi + wd * p[i];
            const REAL b = first ? gi : mu * buf[i] + damp * gi;
            buf[i] = FG_KEEP(b);
            p[i] = nesterov ? p[i] - lr * (gi + mu * b) : p[i] - lr * b;
        }
    }
}

static FG_INLINE void FG_SUFFIX(fg_sgd)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                        const REAL *restrict g, REAL *restrict buf) {
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_sgd_body)(s, n, p, g, buf, 0),
                  FG_SUFFIX(fg_sgd_body)(s, n, p, g, buf, 1));
}

#if FG_FIRST_PASS
static inline void fg_momentum_prepare(fg_step *s) {
    if (s->bias_correction) s->step_size = s->lr / (1.0 - pow(s->momentum, (double)s->step));
}
#endif

/* mirrors reference.optim.momentum_step */
static FG_INLINE void FG_SUFFIX(fg_momentum_body)(const fg_step *s, ptrdiff_t n,
                                                  REAL *restrict p, const REAL *restrict g,
                                                  REAL *restrict v, const int flush) {
    const REAL beta = (REAL)s->momentum, c = (REAL)(1.0 - s->momentum);
    const REAL scale = (REAL)s->step_size;
    const int first = s->first_step;
    for (ptrdiff_t i = 0; i < n; i++) {
        const REAL vi = first ? g[i] : beta * v[i] + c * g[i];
        v[i] = FG_KEEP(vi);
        p[i] = p[i] - scale * vi;
    }
}

static FG_INLINE void FG_SUFFIX(fg_momentum)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                             const REAL *restrict g, REAL *restrict v) {
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_momentum_body)(s, n, p, g, v, 0),
                  FG_SUFFIX(fg_momentum_body)(s, n, p, g, v, 1));
}

/* x / d for a divisor d fixed for the whole step (Adam's sqrt(1 - beta2^t)), correctly
 * rounded -- the bits of the true division -- with a multiplication in place of the
 * division. float: x * RN_double(1/d), rounded to double and then to float. Proof that
 * this is RN_float(x/d) for every float x >= 0 (and inf, NaN) and every float d > 0:
 * the double result is x/d (1 + e) with |e| <= 2^-53 + 2^-53 + 2^-106 < 2^-51. A quotient
 * of two floats is never a float midpoint and keeps a relative distance of at least
 * 2^-49 from every one (x - m*d is a non-zero multiple of ulp(m)*ulp(d)/2, both 24-bit
 * significands; with a subnormal x the grid is 2^-149 and the distance at least 2^-174
 * absolute, against an error <= 2^-51 * 2^-126): so the double lies on the same side of
 * every midpoint and of the overflow threshold as x/d, and rounds to the same float. The
 * double product neither overflows nor underflows (|x| < 2^128, 1/d < 2^150).
 * tests/test_optim_division.py checks it over every significand for the divisors of the
 * first steps. double has no wider type here: float64 divides, or takes the reciprocal
 * pair of fg_divisor.h on the steps whose divisor it rounds exactly (Adam's body,
 * FG_DIVIDE_PAIR; it needs an FMA). recip = 1.0 / (double)d. */
static FG_INLINE REAL FG_SUFFIX(fg_div_step)(REAL x, REAL d, double recip) {
#if FG_QUOTIENT_IN_DOUBLE
    (void)d;
    return (REAL)((double)x * recip);
#else
    (void)recip;
    return x / d;
#endif
}

/* The kernels' quotient alone over an array, for the tests (same clones as fg_apply):
 * float64 takes the pair where fg_prepare would (fg_pair_chosen), on the x it is proven
 * for (Adam's sqrt(v): 0, inf, NaN or >= 2^-537; any other x divides), else the division;
 * force_pair: the pair for every x, which shows what the check guards against. */
FG_CLONES static void FG_SUFFIX(fg_div_step_array)(ptrdiff_t n, const REAL *restrict x,
                                                   REAL d, int force_pair,
                                                   REAL *restrict out) {
    const double recip = 1.0 / (double)d;
#if FG_HAS_PAIR
    double hi, lo;
    const int chosen = fg_pair_chosen(d, &hi, &lo);
    if (force_pair || chosen) {
        const double smallest = ldexp(1.0, -537);    /* sqrt(2^-1074): the least sqrt(v) > 0 */
        for (ptrdiff_t i = 0; i < n; i++) {
            const int proven = force_pair || x[i] == 0 || !(x[i] < smallest);
            out[i] = proven ? fg_pair_quotient(x[i], hi, lo) : x[i] / d;
        }
        return;
    }
#else
    (void)force_pair;
#endif
    for (ptrdiff_t i = 0; i < n; i++) out[i] = FG_SUFFIX(fg_div_step)(x[i], d, recip);
}

#if FG_FIRST_PASS
static inline void fg_adam_prepare(fg_step *s) {
    const double t = (double)s->step;
    const double bc1 = 1.0 - pow(s->beta1, t);
    const double bc2 = 1.0 - pow(s->beta2, t);
    if (s->epsilon_hat) {
        s->step_size = s->lr * sqrt(bc2) / bc1;
    } else {
        s->step_size = s->lr / bc1;
        s->denom_scale = sqrt(bc2);
    }
}
#endif

/* mirrors reference.optim.adam_step (Adam, AdamW, AMSGrad, epsilon-hat). The options that
 * change which arrays are touched (amsgrad) or add a term (L2) are compile-time constants
 * of the body, so each combination is its own branch-free, vectorised loop; maximize,
 * decoupled decay and epsilon-hat are exact multiplications/divisions by +-1 or 1 (see
 * fg_prepare), so they need no branch at all.
 * outer (for fg_apply_outer): the gradient is ar * g[i] (g is the row's dz), made here
 * instead of in a buffer; sum_next: also acc[i] += xr * p_new[i] (the look-ahead forward).
 * Each is the same product or sum the separate loops compute, so the bits are the same;
 * in one loop they run under the divider's latency instead of after it.
 * divide (FG_DIVIDE_*): how sqrt(v) is divided by denom_scale. UNIT: it is exactly 1
 * (epsilon-hat, scikit-learn's form, puts sqrt(bc2) in the step size), and sqrt(v) / 1 is
 * sqrt(v) exactly (NaN and inf included), so the body skips the division -- one of
 * float64's two per parameter, which bound its loop. PAIR (float64): the step's divisor
 * is one whose reciprocal pair gives the division's bits (fg_divisor.h). */
static FG_INLINE void FG_SUFFIX(fg_adam_body)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                              const REAL *restrict g, REAL *restrict m,
                                              REAL *restrict v, REAL *restrict vmax,
                                              const int amsgrad, const int l2,
                                              const int flush, const REAL ar,
                                              REAL *restrict acc, const REAL xr,
                                              const int outer, const int sum_next,
                                              const int divide) {
    const REAL b1 = (REAL)s->beta1, c1 = (REAL)(1.0 - s->beta1);
    const REAL b2 = (REAL)s->beta2, c2 = (REAL)(1.0 - s->beta2);
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay;
    const REAL step_size = (REAL)s->step_size, denom_scale = (REAL)s->denom_scale;
    const REAL decay = (REAL)s->decay_factor, sign = (REAL)s->grad_sign;
    const double recip = s->denom_recip;
    const double pair_hi = s->denom_pair_hi, pair_lo = s->denom_pair_lo;
    for (ptrdiff_t i = 0; i < n; i++) {
        const REAL pi = p[i] * decay;
        REAL gi = (outer ? ar * g[i] : g[i]) * sign;
        if (l2) gi = gi + wd * pi;
        const REAL mi = b1 * m[i] + c1 * gi;
        REAL vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = FG_KEEP(mi);
        v[i] = FG_KEEP(vi);
        if (amsgrad) {
            /* np.maximum's NaN rule: a NaN on either side is kept */
            vi = (vmax[i] > vi || vmax[i] != vmax[i]) ? vmax[i] : vi;
            vmax[i] = FG_KEEP(vi);
        }
        const REAL root = FG_SQRT(vi);
        const REAL scaled =
            divide == FG_DIVIDE_UNIT ? root
            : (FG_HAS_PAIR && divide == FG_DIVIDE_PAIR)
                ? (REAL)fg_pair_quotient((double)root, pair_hi, pair_lo)
                : FG_SUFFIX(fg_div_step)(root, denom_scale, recip);
        const REAL pn = pi - step_size * (mi / (scaled + eps));
        p[i] = pn;
        if (sum_next) acc[i] = acc[i] + xr * pn;
    }
}

/* The step's FG_DIVIDE_* for Adam's body (fg_prepare's verdicts; the pair is float64's). */
static FG_INLINE int FG_SUFFIX(fg_adam_divide)(const fg_step *s) {
    if (s->denom_scale == 1.0) return FG_DIVIDE_UNIT;
    return (FG_HAS_PAIR && s->denom_pair) ? FG_DIVIDE_PAIR : FG_DIVIDE_TRUE;
}

static FG_INLINE void FG_SUFFIX(fg_adam)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                               const REAL *restrict g, REAL *restrict m, REAL *restrict v,
                               REAL *restrict vmax) {
    const int a = s->amsgrad != 0, w = s->weight_decay != 0.0 && !s->decoupled_weight_decay;
    const int f = s->flush_subnormal_state != 0, u = FG_SUFFIX(fg_adam_divide)(s);
    /* each combination its own loop, and u its division's (fg_adam_divide) */
#define FG_ADAM_BODY(A, W, F, D) \
    FG_SUFFIX(fg_adam_body)(s, n, p, g, m, v, vmax, A, W, F, 0, NULL, 0, 0, 0, D)
#define FG_ADAM_CALL(A, W, F) \
    (u == FG_DIVIDE_UNIT ? FG_ADAM_BODY(A, W, F, FG_DIVIDE_UNIT) \
     : (FG_HAS_PAIR && u == FG_DIVIDE_PAIR) ? FG_ADAM_BODY(A, W, F, FG_DIVIDE_PAIR) \
                                            : FG_ADAM_BODY(A, W, F, FG_DIVIDE_TRUE))
    switch (a * 4 + w * 2 + f) {
    case 0: FG_ADAM_CALL(0, 0, 0); break;
    case 1: FG_ADAM_CALL(0, 0, 1); break;
    case 2: FG_ADAM_CALL(0, 1, 0); break;
    case 3: FG_ADAM_CALL(0, 1, 1); break;
    case 4: FG_ADAM_CALL(1, 0, 0); break;
    case 5: FG_ADAM_CALL(1, 0, 1); break;
    case 6: FG_ADAM_CALL(1, 1, 0); break;
    default: FG_ADAM_CALL(1, 1, 1); break;
    }
#undef FG_ADAM_CALL
#undef FG_ADAM_BODY
}

/* mirrors reference.optim.rmsprop_step. eps sits inside or outside the square root by
 * adding it in one place and 0 (exact) in the other; the state-changing options are
 * compile-time constants of the body. */
static FG_INLINE void FG_SUFFIX(fg_rmsprop_body)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                                 const REAL *restrict g, REAL *restrict sq,
                                                 REAL *restrict gavg, REAL *restrict buf,
                                                 const int centered, const int has_mu,
                                                 const int has_wd, const int flush) {
    const REAL alpha = (REAL)s->beta2, c = (REAL)(1.0 - s->beta2);
    const REAL wd = (REAL)s->weight_decay, lr = (REAL)s->lr, mu = (REAL)s->momentum;
    const REAL eps_in = s->eps_inside_sqrt ? (REAL)s->eps : (REAL)0;
    const REAL eps_out = s->eps_inside_sqrt ? (REAL)0 : (REAL)s->eps;
    for (ptrdiff_t i = 0; i < n; i++) {
        REAL gi = g[i];
        if (has_wd) gi = gi + wd * p[i];
        const REAL si = alpha * sq[i] + c * (gi * gi);
        sq[i] = FG_KEEP(si);
        REAL var = si;
        if (centered) {
            const REAL ai = alpha * gavg[i] + c * gi;
            gavg[i] = FG_KEEP(ai);
            var = si - ai * ai;
        }
        const REAL denom = FG_SQRT(var + eps_in) + eps_out;
        if (has_mu) {
            const REAL bi = mu * buf[i] + gi / denom;
            buf[i] = FG_KEEP(bi);
            p[i] = p[i] - lr * bi;
        } else {
            p[i] = p[i] - lr * (gi / denom);
        }
    }
}

#define FG_RMSPROP_CALL(C, M, W) \
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_rmsprop_body)(s, n, p, g, sq, gavg, buf, C, M, W, 0), \
                  FG_SUFFIX(fg_rmsprop_body)(s, n, p, g, sq, gavg, buf, C, M, W, 1))

static FG_INLINE void FG_SUFFIX(fg_rmsprop)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                  const REAL *restrict g, REAL *restrict sq,
                                  REAL *restrict gavg, REAL *restrict buf) {
    const int c = s->centered != 0, m = s->momentum > 0.0, w = s->weight_decay != 0.0;
    switch (c * 4 + m * 2 + w) {
    case 0: FG_RMSPROP_CALL(0, 0, 0); break;
    case 1: FG_RMSPROP_CALL(0, 0, 1); break;
    case 2: FG_RMSPROP_CALL(0, 1, 0); break;
    case 3: FG_RMSPROP_CALL(0, 1, 1); break;
    case 4: FG_RMSPROP_CALL(1, 0, 0); break;
    case 5: FG_RMSPROP_CALL(1, 0, 1); break;
    case 6: FG_RMSPROP_CALL(1, 1, 0); break;
    default: FG_RMSPROP_CALL(1, 1, 1); break;
    }
}
#undef FG_RMSPROP_CALL

#if FG_FIRST_PASS
static inline void fg_adagrad_prepare(fg_step *s) {
    s->step_size = s->lr / (1.0 + ((double)s->step - 1.0) * s->lr_decay);
}
#endif

/* mirrors reference.optim.adagrad_step */
static FG_INLINE void FG_SUFFIX(fg_adagrad_body)(const fg_step *s, ptrdiff_t n,
                                                 REAL *restrict p, const REAL *restrict g,
                                                 REAL *restrict sum, const int flush) {
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay;
    const REAL clr = (REAL)s->step_size;
    const int has_wd = s->weight_decay != 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        REAL gi = g[i];
        if (has_wd) gi = gi + wd * p[i];
        const REAL si = sum[i] + gi * gi;
        sum[i] = FG_KEEP(si);
        p[i] = p[i] - clr * (gi / (FG_SQRT(si) + eps));
    }
}

static FG_INLINE void FG_SUFFIX(fg_adagrad)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                            const REAL *restrict g, REAL *restrict sum) {
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_adagrad_body)(s, n, p, g, sum, 0),
                  FG_SUFFIX(fg_adagrad_body)(s, n, p, g, sum, 1));
}

/* mirrors reference.optim.adadelta_step */
static FG_INLINE void FG_SUFFIX(fg_adadelta_body)(const fg_step *s, ptrdiff_t n,
                                                  REAL *restrict p, const REAL *restrict g,
                                                  REAL *restrict sq, REAL *restrict acc,
                                                  const int flush) {
    const REAL rho = (REAL)s->beta2, c = (REAL)(1.0 - s->beta2);
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay, lr = (REAL)s->lr;
    const int has_wd = s->weight_decay != 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        REAL gi = g[i];
        if (has_wd) gi = gi + wd * p[i];
        const REAL si = rho * sq[i] + c * (gi * gi);
        sq[i] = FG_KEEP(si);
        const REAL delta = FG_SQRT(acc[i] + eps) / FG_SQRT(si + eps) * gi;
        acc[i] = FG_KEEP(rho * acc[i] + c * (delta * delta));
        p[i] = p[i] - lr * delta;
    }
}

static FG_INLINE void FG_SUFFIX(fg_adadelta)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                             const REAL *restrict g, REAL *restrict sq,
                                             REAL *restrict acc) {
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_adadelta_body)(s, n, p, g, sq, acc, 0),
                  FG_SUFFIX(fg_adadelta_body)(s, n, p, g, sq, acc, 1));
}

#if FG_FIRST_PASS
static inline void fg_adamax_prepare(fg_step *s) {
    s->step_size = s->lr / (1.0 - pow(s->beta1, (double)s->step));
}
#endif

/* mirrors reference.optim.adamax_step */
static FG_INLINE void FG_SUFFIX(fg_adamax_body)(const fg_step *s, ptrdiff_t n,
                                                REAL *restrict p, const REAL *restrict g,
                                                REAL *restrict m, REAL *restrict u,
                                                const int flush) {
    const REAL b1 = (REAL)s->beta1, c1 = (REAL)(1.0 - s->beta1), b2 = (REAL)s->beta2;
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay;
    const REAL clr = (REAL)s->step_size;
    const int has_wd = s->weight_decay != 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        REAL gi = g[i];
        if (has_wd) gi = gi + wd * p[i];
        const REAL mi = b1 * m[i] + c1 * gi;
        m[i] = FG_KEEP(mi);
        const REAL decayed = b2 * u[i];
        const REAL fresh = (gi < 0 ? -gi : gi) + eps;
        /* np.maximum's NaN rule: a NaN on either side is kept */
        const REAL ui = (decayed > fresh || decayed != decayed) ? decayed : fresh;
        u[i] = FG_KEEP(ui);
        p[i] = p[i] - clr * (mi / ui);
    }
}

static FG_INLINE void FG_SUFFIX(fg_adamax)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                           const REAL *restrict g, REAL *restrict m,
                                           REAL *restrict u) {
    FG_WITH_FLUSH(s, FG_SUFFIX(fg_adamax_body)(s, n, p, g, m, u, 0),
                  FG_SUFFIX(fg_adamax_body)(s, n, p, g, m, u, 1));
}

#if FG_FIRST_PASS
static inline void fg_nadam_prepare(fg_step *s) {
    const double t = (double)s->step;
    const double mu = s->beta1 * (1.0 - 0.5 * pow(0.96, t * s->momentum_decay));
    const double mu_next = s->beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * s->momentum_decay));
    s->mu_product = s->mu_product * mu;
    s->step_size = s->lr * (1.0 - mu) / (1.0 - s->mu_product);
    s->step_size2 = s->lr * mu_next / (1.0 - s->mu_product * mu_next);
    s->denom_scale = 1.0 - pow(s->beta2, t);
}
#endif

/* mirrors reference.optim.nadam_step */
static FG_INLINE void FG_SUFFIX(fg_nadam_body)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                               const REAL *restrict g, REAL *restrict m,
                                               REAL *restrict v, const int l2,
                                               const int flush) {
    const REAL b1 = (REAL)s->beta1, c1 = (REAL)(1.0 - s->beta1);
    const REAL b2 = (REAL)s->beta2, c2 = (REAL)(1.0 - s->beta2);
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay;
    const REAL bc2 = (REAL)s->denom_scale, decay = (REAL)s->decay_factor;
    const REAL cg = (REAL)s->step_size, cm = (REAL)s->step_size2;
    const double recip = s->denom_recip;
    for (ptrdiff_t i = 0; i < n; i++) {
        REAL pi = p[i] * decay;
        REAL gi = g[i];
        if (l2) gi = gi + wd * pi;
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = FG_KEEP(mi);
        v[i] = FG_KEEP(vi);
        const REAL denom = FG_SQRT(FG_SUFFIX(fg_div_step)(vi, bc2, recip)) + eps;
        pi = pi - cg * (gi / denom);
        p[i] = pi - cm * (mi / denom);
    }
}

static FG_INLINE void FG_SUFFIX(fg_nadam)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                const REAL *restrict g, REAL *restrict m,
                                REAL *restrict v) {
    if (s->weight_decay != 0.0 && !s->decoupled_weight_decay)
        FG_WITH_FLUSH(s, FG_SUFFIX(fg_nadam_body)(s, n, p, g, m, v, 1, 0),
                      FG_SUFFIX(fg_nadam_body)(s, n, p, g, m, v, 1, 1));
    else
        FG_WITH_FLUSH(s, FG_SUFFIX(fg_nadam_body)(s, n, p, g, m, v, 0, 0),
                      FG_SUFFIX(fg_nadam_body)(s, n, p, g, m, v, 0, 1));
}

#if FG_FIRST_PASS
static inline void fg_radam_prepare(fg_step *s) {
    const double t = (double)s->step;
    const double bc1 = 1.0 - pow(s->beta1, t);
    const double rho_inf = 2.0 / (1.0 - s->beta2) - 1.0;
    const double beta2_t = pow(s->beta2, t);
    const double rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
    if (rho_t > 5.0) {
        const double rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                                 / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
        s->rectified = 1;
        s->step_size = s->lr * rect * sqrt(1.0 - beta2_t) / bc1;
    } else {
        s->step_size = s->lr / bc1;
    }
}
#endif

/* mirrors reference.optim.radam_step */
static FG_INLINE void FG_SUFFIX(fg_radam_body)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                               const REAL *restrict g, REAL *restrict m,
                                               REAL *restrict v, const int l2,
                                               const int rectified, const int flush) {
    const REAL b1 = (REAL)s->beta1, c1 = (REAL)(1.0 - s->beta1);
    const REAL b2 = (REAL)s->beta2, c2 = (REAL)(1.0 - s->beta2);
    const REAL eps = (REAL)s->eps, wd = (REAL)s->weight_decay;
    const REAL scale = (REAL)s->step_size, decay = (REAL)s->decay_factor;
    for (ptrdiff_t i = 0; i < n; i++) {
        const REAL pi = p[i] * decay;
        REAL gi = g[i];
        if (l2) gi = gi + wd * pi;
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = FG_KEEP(mi);
        v[i] = FG_KEEP(vi);
        p[i] = rectified ? pi - scale * (mi / (FG_SQRT(vi) + eps)) : pi - scale * mi;
    }
}

static FG_INLINE void FG_SUFFIX(fg_radam)(const fg_step *s, ptrdiff_t n, REAL *restrict p,
                                const REAL *restrict g, REAL *restrict m,
                                REAL *restrict v) {
    const int w = s->weight_decay != 0.0 && !s->decoupled_weight_decay;
    const int r = s->rectified != 0, f = s->flush_subnormal_state != 0;
    switch (w * 4 + r * 2 + f) {
    case 0: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 0, 0, 0); break;
    case 1: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 0, 0, 1); break;
    case 2: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 0, 1, 0); break;
    case 3: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 0, 1, 1); break;
    case 4: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 1, 0, 0); break;
    case 5: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 1, 0, 1); break;
    case 6: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 1, 1, 0); break;
    default: FG_SUFFIX(fg_radam_body)(s, n, p, g, m, v, 1, 1, 1); break;
    }
}

/* One rule over [0, n). s1..s3 are the rule's state arrays (fastgd/optim/table.py); unused
 * ones may be NULL. Inlined into each kernel below, so each clone has its own copy. */
static FG_INLINE void FG_SUFFIX(fg_rule)(const fg_step *s, ptrdiff_t n, REAL *p, const REAL *g,
                                         REAL *s1, REAL *s2, REAL *s3) {
    switch (s->rule) {
    case FG_SGD: FG_SUFFIX(fg_sgd)(s, n, p, g, s1); break;
    case FG_MOMENTUM: FG_SUFFIX(fg_momentum)(s, n, p, g, s1); break;
    case FG_ADAM: FG_SUFFIX(fg_adam)(s, n, p, g, s1, s2, s3); break;
    case FG_RMSPROP: FG_SUFFIX(fg_rmsprop)(s, n, p, g, s1, s2, s3); break;
    case FG_ADAGRAD: FG_SUFFIX(fg_adagrad)(s, n, p, g, s1); break;
    case FG_ADADELTA: FG_SUFFIX(fg_adadelta)(s, n, p, g, s1, s2); break;
    case FG_ADAMAX: FG_SUFFIX(fg_adamax)(s, n, p, g, s1, s2); break;
    case FG_NADAM: FG_SUFFIX(fg_nadam)(s, n, p, g, s1, s2); break;
    case FG_RADAM: FG_SUFFIX(fg_radam)(s, n, p, g, s1, s2); break;
    default: break;
    }
}

FG_CLONES static void FG_SUFFIX(fg_apply)(const fg_step *s, ptrdiff_t n, REAL *p, const REAL *g,
                                REAL *s1, REAL *s2, REAL *s3) {
    FG_SUFFIX(fg_rule)(s, n, p, g, s1, s2, s3);
}

/* The rule over a (rows x cols) row-major block of weights whose gradient is the outer
 * product a (x) dz (+ alpha * W for an L2 penalty): the weight gradient of a batch of one
 * row. Each row's gradient is made in a small buffer that stays in L1 and handed at once
 * to the rule, so the gradient never goes to memory (Adam's default case makes it inside
 * the update loop instead: see `fused` below). Each element is a[r] * dz[j]
 * (+ alpha * w), one rounding as in the GEMM path, so the result is the same bit for bit.
 * State pointers follow the weights (NULL stays NULL).
 * With acc != NULL it also sums the next sample's forward product while each updated row
 * is still in L1: acc[j] += a_next[r] * w_new[r, j], row after row (fg_accumulate_rows's
 * order), which saves the forward its own pass over the weights. a_next is read with
 * a's stride inca (both are rows of the engine's contiguous input buffers). */
#define FG_OUTER_CHUNK 512
FG_CLONES static void FG_SUFFIX(fg_apply_outer)(const fg_step *s, ptrdiff_t rows,
                                                ptrdiff_t cols, const REAL *a, ptrdiff_t inca,
                                                const REAL *dz, REAL alpha, REAL *p,
                                                REAL *s1, REAL *s2, REAL *s3,
                                                const REAL *a_next, REAL *acc) {
    REAL buf[FG_OUTER_CHUNK];
    /* Adam without AMSGrad, L2 or alpha (the defaults): gradient, update and look-ahead
     * sum in one loop (fg_adam_body's outer/sum_next), the same operations in the same
     * order as the three loops below */
    const int fused = s->rule == FG_ADAM && !s->amsgrad && alpha == 0
                      && !(s->weight_decay != 0.0 && !s->decoupled_weight_decay);
    const int variant = (s->flush_subnormal_state != 0) * 2 + (acc != NULL);
    const int divide = FG_SUFFIX(fg_adam_divide)(s);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const REAL ar = a[r * inca];
        for (ptrdiff_t c0 = 0; c0 < cols; c0 += FG_OUTER_CHUNK) {
            const ptrdiff_t n = cols - c0 < FG_OUTER_CHUNK ? cols - c0 : FG_OUTER_CHUNK;
            const ptrdiff_t off = r * cols + c0;
            REAL *restrict pr = p + off;
            if (fused) {
                const REAL xr = acc ? a_next[r * inca] : (REAL)0;
                REAL *accr = acc ? acc + c0 : NULL;
                REAL *mr = s1 + off, *vr = s2 + off;
                const REAL *dzr = dz + c0;
#define FG_OUTER_BODY(F, A, D) \
    FG_SUFFIX(fg_adam_body)(s, n, pr, dzr, mr, vr, NULL, 0, 0, F, ar, accr, xr, 1, A, D)
#define FG_OUTER_ADAM(F, A) \
    (divide == FG_DIVIDE_UNIT ? FG_OUTER_BODY(F, A, FG_DIVIDE_UNIT) \
     : (FG_HAS_PAIR && divide == FG_DIVIDE_PAIR) ? FG_OUTER_BODY(F, A, FG_DIVIDE_PAIR) \
                                                 : FG_OUTER_BODY(F, A, FG_DIVIDE_TRUE))
                switch (variant) {
                case 0: FG_OUTER_ADAM(0, 0); break;
                case 1: FG_OUTER_ADAM(0, 1); break;
                case 2: FG_OUTER_ADAM(1, 0); break;
                default: FG_OUTER_ADAM(1, 1); break;
                }
#undef FG_OUTER_ADAM
#undef FG_OUTER_BODY
                continue;
            }
            for (ptrdiff_t j = 0; j < n; j++) buf[j] = ar * dz[c0 + j];
            if (alpha != 0)
                for (ptrdiff_t j = 0; j < n; j++) buf[j] = buf[j] + alpha * pr[j];
            FG_SUFFIX(fg_rule)(s, n, pr, buf, s1 ? s1 + off : NULL, s2 ? s2 + off : NULL,
                               s3 ? s3 + off : NULL);
            if (acc) {
                const REAL xr = a_next[r * inca];
                REAL *restrict accr = acc + c0;
                for (ptrdiff_t j = 0; j < n; j++) accr[j] = accr[j] + xr * pr[j];
            }
        }
    }
}

/* The bandwidth probe: Adam's access pattern (read 4 arrays, write 3), one add per store.
 * No store is a plain copy of a loaded value: GCC turns such a statement into a separate
 * memmove, a second pass over memory that made the probe understate the roof by 11%
 * (x + 0 cannot be folded to x: -0 + 0 is +0). Repeated, the values cycle with period 3
 * (p, m, v) -> (m + g, v - g, p), so they stay bounded however long it is timed. */
FG_CLONES static void FG_SUFFIX(fg_probe)(ptrdiff_t n, REAL *restrict p, const REAL *restrict g,
                                          REAL *restrict m, REAL *restrict v) {
    const REAL zero = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const REAL pi = p[i], gi = g[i], mi = m[i], vi = v[i];
        p[i] = mi + gi;
        m[i] = vi - gi;
        v[i] = pi + zero;
    }
}

#undef FG_KEEP
#undef FG_WITH_FLUSH
