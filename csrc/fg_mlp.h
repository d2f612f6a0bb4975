/* fg_mlp.h: the element-wise passes of an MLP's forward and backward (the GEMMs are BLAS).
 *
 * Design: after each GEMM exactly one pass touches its output: the bias add is fused with
 * the activation (forward), with the loss and its gradient (output layer), and the
 * activation's derivative is applied to the back-propagated gradient in place, written in
 * terms of the activation's output so the pre-activations never need storing. Each
 * function works on rows [r0, r1) so the caller can split rows over threads; they mirror
 * fastgd/reference/mlp.py. Loss sums are accumulated in double whatever REAL is.
 */
#ifndef FG_MLP_H
#define FG_MLP_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fg_exp.h"        /* e^x for x <= 0, vectorisable, the same bits everywhere */
#include "fg_platform.h"   /* restrict under MSVC */

typedef enum { FG_RELU = 0, FG_LEAKY_RELU = 1, FG_TANH = 2, FG_SIGMOID = 3, FG_IDENTITY = 4 } fg_activation;
typedef enum { FG_SOFTMAX = 0, FG_SIGMOID_OUT = 1, FG_LINEAR = 2 } fg_output;

#define FG_LEAKY_SLOPE 0.01

#define REAL float
#define FG_EXP_NONPOS expf
#define FG_LOG logf
#define FG_LOG1P log1pf
#define FG_TANH_FN tanhf
#define FG_SUFFIX(name) name##_f32
#include "fg_mlp_impl.h"
#undef REAL
#undef FG_EXP_NONPOS
#undef FG_LOG
#undef FG_LOG1P
#undef FG_TANH_FN
#undef FG_SUFFIX

#define REAL double
#define FG_EXP_NONPOS fg_exp_nonpos
#define FG_LOG log
#define FG_LOG1P log1p
#define FG_TANH_FN tanh
#define FG_SUFFIX(name) name##_f64
#include "fg_mlp_impl.h"
#undef REAL
#undef FG_EXP_NONPOS
#undef FG_LOG
#undef FG_LOG1P
#undef FG_TANH_FN
#undef FG_SUFFIX

#endif /* FG_MLP_H */
