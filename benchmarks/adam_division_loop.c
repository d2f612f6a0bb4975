/* The Adam loop's division forms, timed alone over 4,096 L1-resident float32 elements
 * (benchmarks/results/adam-division.md, "The C loop behind it"). Not part of the build:
 *   cc -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -std=c99 \
 *      benchmarks/adam_division_loop.c -o adam_division_loop -lm && ./adam_division_loop
 * Prints the best of 15 timings of 2,000 passes per form. The Markstein form is exact
 * only for some divisors (see docs/DESIGN.md, "Adam divides once"). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N 4096
static float p[N], g[N], m[N], v[N];
static double now(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+1e-9*t.tv_nsec;}
static inline __attribute__((always_inline,target("avx512f"))) float mk(float x,float d,float zh){float q0=x*zh; float r=__builtin_fmaf(-q0,d,x); float q=__builtin_fmaf(r,zh,q0); return (q0-q0==0)?q:q0;}
#define BODY(EXPR) \
 __attribute__((noinline,target("avx512f"))) void k_##EXPR(int n, float *restrict p, const float *restrict g, float *restrict m, float *restrict v, float d, double r){ \
  const float b1=0.9f,c1=0.1f,b2=0.999f,c2=0.001f,eps=1e-8f,ss=1e-3f; \
  for(int i=0;i<n;i++){ float gi=g[i]; float mi=b1*m[i]+c1*gi; float vi=b2*v[i]+c2*(gi*gi); m[i]=mi; v[i]=vi; \
   float s=sqrtf(vi); p[i]=p[i]-ss*(EXPR); } }
#define E_div2 (mi/(s/d+eps))
#define E_recip (mi/((float)((double)s*r)+eps))
#define E_m1 (mi/(mk(s,d,(float)r)+eps))
#define E_div1 (mi/(s+eps))
#define E_nodiv (mi*(s+eps))
BODY(E_div2) BODY(E_recip) BODY(E_m1) BODY(E_div1) BODY(E_nodiv)
typedef void (*kf)(int, float*restrict, const float*restrict, float*restrict, float*restrict, float, double);
int main(){ for(int i=0;i<N;i++){p[i]=rand()/(float)RAND_MAX; g[i]=rand()/(float)RAND_MAX-0.5f; m[i]=0; v[i]=0.1f;}
 kf ks[5]={k_E_div2,k_E_recip,k_E_div1,k_E_nodiv,k_E_m1}; const char*nm[5]={"div2","recip","div1","nodiv","markstein-fma"};
 double best[5]={1e9,1e9,1e9,1e9,1e9};
 for(int round=0;round<15;round++) for(int k=0;k<5;k++){ double t=now(); for(int it=0;it<2000;it++) ks[k](N,p,g,m,v,0.0316f,k==4?(double)(1.0f/0.0316f):1.0/0.0316f); t=now()-t; if(t<best[k])best[k]=t;}
 for(int k=0;k<5;k++) printf("%s %.3f G el/s (best of 15)\n", nm[k], 2000.0*N/best[k]/1e9);
}
