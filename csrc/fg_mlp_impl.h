/* fg_mlp_impl.h: bodies of fg_mlp.h for REAL = float/double. Included only by fg_mlp.h. */

static inline REAL FG_SUFFIX(fg_sigmoid)(REAL z) {
    /* exp of a non-positive number only: no overflow (mirrors reference.mlp.sigmoid) */
    const REAL e = FG_EXP_NONPOS(z >= 0 ? -z : z);
    return z >= 0 ? (REAL)1 / ((REAL)1 + e) : e / ((REAL)1 + e);
}

/* z[r, :] = act(z[r, :] + b) for rows [r0, r1); z is (rows x n), row-major. */
FG_CLONES static void FG_SUFFIX(fg_bias_act)(ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                   REAL *restrict z, const REAL *restrict b,
                                   fg_activation act) {
    const REAL slope = (REAL)FG_LEAKY_SLOPE;
    for (ptrdiff_t r = r0; r < r1; r++) {
        REAL *restrict zr = z + r * n;
        switch (act) {
        case FG_RELU:
            /* v <= 0 is false for NaN: a NaN passes through, as in np.maximum(z, 0) */
            for (ptrdiff_t k = 0; k < n; k++) { const REAL v = zr[k] + b[k]; zr[k] = v <= 0 ? 0 : v; }
            break;
        case FG_LEAKY_RELU:
            for (ptrdiff_t k = 0; k < n; k++) { const REAL v = zr[k] + b[k]; zr[k] = v > 0 ? v : slope * v; }
            break;
        case FG_TANH:
            for (ptrdiff_t k = 0; k < n; k++) zr[k] = FG_TANH_FN(zr[k] + b[k]);
            break;
        case FG_SIGMOID:
            for (ptrdiff_t k = 0; k < n; k++) zr[k] = FG_SUFFIX(fg_sigmoid)(zr[k] + b[k]);
            break;
        default:
            for (ptrdiff_t k = 0; k < n; k++) zr[k] = zr[k] + b[k];
        }
    }
}

/* d[r, :] = d[r, :] * act'(a[r, :]): turns dL/dA (in d) into dL/dZ, in place; a holds the
 * activation's outputs. */
FG_CLONES static void FG_SUFFIX(fg_act_backward)(ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                       const REAL *restrict a, REAL *restrict d,
                                       fg_activation act) {
    const REAL slope = (REAL)FG_LEAKY_SLOPE;
    const ptrdiff_t i0 = r0 * n, i1 = r1 * n;
    /* one loop per activation (not a switch per element) so each one vectorises */
    switch (act) {
    case FG_RELU:
        for (ptrdiff_t i = i0; i < i1; i++) d[i] = d[i] * (a[i] > 0 ? (REAL)1 : (REAL)0);
        break;
    case FG_LEAKY_RELU:
        for (ptrdiff_t i = i0; i < i1; i++) d[i] = d[i] * (a[i] > 0 ? (REAL)1 : slope);
        break;
    case FG_TANH:
        for (ptrdiff_t i = i0; i < i1; i++) d[i] = d[i] * ((REAL)1 - a[i] * a[i]);
        break;
    case FG_SIGMOID:
        for (ptrdiff_t i = i0; i < i1; i++) d[i] = d[i] * (a[i] * ((REAL)1 - a[i]));
        break;
    default:
        break;
    }
}

/* The softmax loss of FG_SM_LANES rows at once, each row a lane (a narrow output layer:
 * n <= FG_SM_MAX_CLASSES). Row by row, a 10-class row is 8 + 2 values: the exponentials'
 * last two go scalar and the row's sum is a chain of 10 dependent adds; with the rows as
 * lanes every step is a full vector. Each lane does exactly the row loop's operations in
 * its order (bias add, max, e^(z - max), the sum over k in order, the division, the
 * label's -1, the scale), so the bits are the row loop's; the rows' losses are added to
 * ``loss`` in row order, as the row loop adds them. Returns the new sum. */
#ifndef FG_SM_MAX_CLASSES
#define FG_SM_MAX_CLASSES 16
#endif
#define FG_SM_LANES ((ptrdiff_t)(64 / sizeof(REAL)))
static FG_INLINE double FG_SUFFIX(fg_softmax_lanes)(ptrdiff_t r, ptrdiff_t n, REAL *restrict z,
                                                const REAL *restrict b,
                                                const int64_t *restrict labels, REAL inv_b,
                                                const double *restrict w, double inv_wsum,
                                                double *restrict hits, double loss) {
    const ptrdiff_t L = FG_SM_LANES;   /* one 64-byte vector of REAL */
    REAL t[FG_SM_MAX_CLASSES][FG_SM_LANES], mx[FG_SM_LANES], s[FG_SM_LANES],
        shifted_y[FG_SM_LANES];
    for (ptrdiff_t k = 0; k < n; k++)
        for (ptrdiff_t l = 0; l < L; l++) t[k][l] = z[(r + l) * n + k] + b[k];
    for (ptrdiff_t l = 0; l < L; l++) mx[l] = t[0][l];
    for (ptrdiff_t k = 0; k < n; k++)
        for (ptrdiff_t l = 0; l < L; l++) mx[l] = t[k][l] > mx[l] ? t[k][l] : mx[l];
    for (ptrdiff_t l = 0; l < L; l++) {
        const int64_t y = labels[r + l];
        if (hits != NULL) {
            int earlier = 0;
            for (ptrdiff_t k = 0; k < n; k++) earlier |= (k < y) & (t[k][l] == mx[l]);
            hits[r + l] = (double)((t[y][l] == mx[l]) & !earlier);
        }
        shifted_y[l] = t[y][l] - mx[l];
    }
    for (ptrdiff_t k = 0; k < n; k++)
        for (ptrdiff_t l = 0; l < L; l++) t[k][l] = FG_EXP_NONPOS(t[k][l] - mx[l]);
    for (ptrdiff_t l = 0; l < L; l++) s[l] = 0;
    for (ptrdiff_t k = 0; k < n; k++)
        for (ptrdiff_t l = 0; l < L; l++) s[l] += t[k][l];
    for (ptrdiff_t l = 0; l < L; l++) {
        const double row = (double)(FG_LOG(s[l]) - shifted_y[l]);
        loss += w != NULL ? w[r + l] * row : row;
    }
    for (ptrdiff_t l = 0; l < L; l++) {
        const REAL sc = w != NULL ? (REAL)(w[r + l] * inv_wsum) : inv_b;
        const int64_t y = labels[r + l];
        REAL *restrict zr = z + (r + l) * n;
        for (ptrdiff_t k = 0; k < n; k++) {
            REAL p = t[k][l] / s[l];
            if (k == y) p = p - (REAL)1;
            zr[k] = p * sc;
        }
    }
    return loss;
}

/* Output layer, one pass per row: add the bias, add the row's loss to the returned sum, and
 * overwrite z with dL/dZ = (P - Y) * inv_b. labels: class ids (softmax); targets: (rows x n)
 * values (sigmoid, linear). w: NULL (unweighted), or the batch's row weights: then row r
 * adds w[r] * its loss to the sum and dL/dZ = (P - Y) * (REAL)(w[r] * inv_wsum), so the
 * caller's sum / sum(w) is the weighted mean (scikit-learn's MLP). Unweighted, every term is
 * added to the sum in the same order and scaled by inv_b as before: the same bits.
 * hits: NULL, or per row the training metric's term from these logits, before the update
 * (mirrors reference.mlp.metric_terms): softmax 1 if the first largest logit is the
 * label's, else 0; sigmoid the count of outputs with (z > 0) == (y > 0.5); linear the
 * squared error summed over outputs. mirrors reference.mlp.data_loss_and_dlogits */
FG_CLONES static double FG_SUFFIX(fg_output_loss)(ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                        REAL *restrict z, const REAL *restrict b,
                                        const int64_t *restrict labels,
                                        const REAL *restrict targets, fg_output out,
                                        REAL inv_b, const double *restrict w,
                                        double inv_wsum, double *restrict hits) {
    double loss = 0.0;
    if (out == FG_SOFTMAX && n <= FG_SM_MAX_CLASSES && n > 0)
        for (; r0 + FG_SM_LANES <= r1; r0 += FG_SM_LANES)
            loss = FG_SUFFIX(fg_softmax_lanes)(r0, n, z, b, labels, inv_b, w, inv_wsum, hits,
                                               loss);
    for (ptrdiff_t r = r0; r < r1; r++) {
        REAL *restrict zr = z + r * n;
        const REAL sc = w != NULL ? (REAL)(w[r] * inv_wsum) : inv_b;
        if (out == FG_SOFTMAX) {
            REAL mx = zr[0] + b[0];
            for (ptrdiff_t k = 0; k < n; k++) {
                zr[k] = zr[k] + b[k];
                if (zr[k] > mx) mx = zr[k];
            }
            if (hits != NULL) {
                /* the label is numpy's argmax (the first of the largest) when its logit is
                 * the max and no earlier one is: flags, no branch on the data and the max
                 * loop left as it was. Measured ~10 ns a row (~4% of a 20-32-4 epoch at
                 * batch 32-128, nothing visible on 784-256-128-10); a search for the
                 * argmax after the max, or selects inside the max loop, were no cheaper */
                const int64_t y = labels[r];
                int earlier = 0;
                for (ptrdiff_t k = 0; k < n; k++) earlier |= (k < y) & (zr[k] == mx);
                hits[r] = (double)((zr[y] == mx) & !earlier);
            }
            const REAL shifted_y = zr[labels[r]] - mx;
            /* two loops: the exponentials vectorise, the sum keeps its order */
            for (ptrdiff_t k = 0; k < n; k++) zr[k] = FG_EXP_NONPOS(zr[k] - mx);
            REAL s = 0;
            for (ptrdiff_t k = 0; k < n; k++) s += zr[k];
            const int64_t y = labels[r];
            const double row = (double)(FG_LOG(s) - shifted_y);
            loss += w != NULL ? w[r] * row : row;
            for (ptrdiff_t k = 0; k < n; k++) {
                REAL p = zr[k] / s;
                if (k == y) p = p - (REAL)1;
                zr[k] = p * sc;
            }
        } else if (out == FG_SIGMOID_OUT) {
            const REAL *restrict yr = targets + r * n;
            double row = 0.0;
            double *restrict acc = w != NULL ? &row : &loss;
            if (hits != NULL) {
                double agree = 0.0;
                for (ptrdiff_t k = 0; k < n; k++)
                    agree += ((zr[k] + b[k] > 0) == (yr[k] > (REAL)0.5)) ? 1.0 : 0.0;
                hits[r] = agree;
            }
            for (ptrdiff_t k = 0; k < n; k++) {
                const REAL v = zr[k] + b[k];
                const REAL av = v < 0 ? -v : v;
                *acc += (double)((v > 0 ? v : 0) - yr[k] * v + FG_LOG1P(FG_EXP_NONPOS(-av)));
                zr[k] = (FG_SUFFIX(fg_sigmoid)(v) - yr[k]) * sc;
            }
            if (w != NULL) loss += w[r] * row;
        } else {
            const REAL *restrict yr = targets + r * n;
            double row = 0.0;
            double *restrict acc = w != NULL ? &row : &loss;
            if (hits != NULL) {
                double sq = 0.0;
                for (ptrdiff_t k = 0; k < n; k++) {
                    const double d = (double)(zr[k] + b[k] - yr[k]);
                    sq += d * d;
                }
                hits[r] = sq;
            }
            for (ptrdiff_t k = 0; k < n; k++) {
                const REAL diff = zr[k] + b[k] - yr[k];
                *acc += 0.5 * (double)diff * (double)diff;
                zr[k] = diff * sc;
            }
            if (w != NULL) loss += w[r] * row;
        }
    }
    return loss;
}

/* db[k] = sum over rows of d[r, k] for the columns [0, n) of a block with row stride ld,
 * rows in order (as numpy's axis-0 sum). */
FG_CLONES static void FG_SUFFIX(fg_col_sums)(ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld,
                                   const REAL *restrict d, REAL *restrict db) {
    for (ptrdiff_t k = 0; k < n; k++) db[k] = 0;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const REAL *restrict dr = d + r * ld;
        for (ptrdiff_t k = 0; k < n; k++) db[k] = db[k] + dr[k];
    }
}

/* dw += alpha * w over a (rows x n) block with row stride ld (the L2 penalty's gradient). */
FG_CLONES static void FG_SUFFIX(fg_add_scaled)(ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld,
                                     REAL *restrict dw, const REAL *restrict w, REAL alpha) {
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t k = 0; k < n; k++) dw[r * ld + k] = dw[r * ld + k] + alpha * w[r * ld + k];
}

/* c[i + j*ldc] = a[i*inca] * b[j*incb]: a GEMM with k = 1 (a batch of one row), which BLAS
 * would run by packing both operands first -- at batch 1 the packing was 19% of the time. */
FG_CLONES static void FG_SUFFIX(fg_outer)(ptrdiff_t m, ptrdiff_t n, const REAL *restrict a,
                                ptrdiff_t inca, const REAL *restrict b, ptrdiff_t incb,
                                REAL *restrict c, ptrdiff_t ldc) {
    for (ptrdiff_t j = 0; j < n; j++) {
        const REAL bj = b[j * incb];
        REAL *restrict cj = c + j * ldc;
        if (inca == 1)
            for (ptrdiff_t i = 0; i < m; i++) cj[i] = a[i] * bj;
        else
            for (ptrdiff_t i = 0; i < m; i++) cj[i] = a[i * inca] * bj;
    }
}

/* acc[k] += x[i] * w[i, k] for the rows i in [r0, r1) of a row-major (. x n) w: one
 * block's share of a one-row product x @ W, summed row after row. It is the order in which
 * fg_apply_outer sums the next row's product while it updates W, so the two agree bit for
 * bit; a batch-1 forward always sums this way, whichever of the two computes it. */
FG_CLONES static void FG_SUFFIX(fg_accumulate_rows)(ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t n,
                                          const REAL *restrict x, const REAL *restrict w,
                                          REAL *restrict acc) {
    for (ptrdiff_t i = r0; i < r1; i++) {
        const REAL xi = x[i];
        const REAL *restrict wi = w + i * n;
        for (ptrdiff_t k = 0; k < n; k++) acc[k] = acc[k] + xi * wi[k];
    }
}

/* out = parts[0] + parts[1] + ... + parts[blocks - 1], each part n wide, in block order. */
FG_CLONES static void FG_SUFFIX(fg_sum_blocks)(ptrdiff_t blocks, ptrdiff_t n, const REAL *restrict parts,
                                     REAL *restrict out) {
    for (ptrdiff_t k = 0; k < n; k++) out[k] = parts[k];
    for (ptrdiff_t j = 1; j < blocks; j++)
        for (ptrdiff_t k = 0; k < n; k++) out[k] = out[k] + parts[j * n + k];
}
