/*
 * BatchNorm (training mode) followed by SiLU, forward and backward, on float32
 * channels_last activations seen as [rows, channels] (rows = N * H * W).
 *
 * PyTorch runs the statistics, the normalisation and SiLU as separate passes,
 * each reading and writing whole activations; here the forward pass reads x
 * twice and writes y once, the backward pass reads dy and x once for the sums
 * (writing dz) and once more to turn dz into dx. Built and loaded by
 * fused_bn_silu.py; parallel with the OpenMP runtime PyTorch already loaded.
 *
 * Sums are taken in float over blocks of rows, then added in double per
 * thread, and the threads' partial sums are added in thread order, so a result
 * does not depend on timing.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_ROWS 64

/* exp(x) to float precision for |x| <= 87: 2^k * exp(r), |r| <= ln(2) / 2, r by
 * Cody-Waite reduction, exp(r) by its degree-6 Taylor polynomial (error < 2e-7).
 * libm's expf is not vectorised without -ffast-math; this is, in the loops below. */
static inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    /* round to nearest by adding and subtracting 1.5 * 2^23 */
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - k * 0.693145751953125f;
    r = r - k * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    union {
        int32_t bits;
        float value;
    } two_to_k = {.bits = ((int32_t)k + 127) << 23};
    return p * two_to_k.value;
}

static inline float sigmoid(float z) { return 1.0f / (1.0f + exp_approx(-z)); }

static inline float silu(float z) { return z * sigmoid(z); }

/* Adds the two per-channel terms of the row that starts at element `offset` to first[c]
 * and second[c]. */
typedef void (*AddRow)(const void *args, int64_t offset, int64_t channels,
                       float *restrict first, float *restrict second);

/* Two per-channel sums over all rows, the space they are taken in, and `scratch`: rows of
 * `channels` floats for the caller's per-channel coefficients. */
typedef struct {
    int threads;
    int64_t channels;
    double *partial; /* [threads][2][channels], then the totals: [2][channels] */
    float *block;    /* [threads][2][channels] */
    float *scratch;  /* [scratch_rows][channels] */
} ChannelSums;

static void sums_free(ChannelSums *sums) {
    free(sums->partial);
    free(sums->block);
    free(sums->scratch);
}

static int sums_init(ChannelSums *sums, int64_t channels, int scratch_rows) {
    sums->threads = omp_get_max_threads();
    sums->channels = channels;
    sums->partial = calloc((size_t)(sums->threads + 1) * 2 * channels, sizeof(double));
    sums->block = malloc((size_t)sums->threads * 2 * channels * sizeof(float));
    sums->scratch = malloc((size_t)scratch_rows * channels * sizeof(float));
    if (sums->partial && sums->block && sums->scratch) return 0;
    sums_free(sums);
    return -1;
}

/* Called by every thread of a parallel region; on return (after a barrier) the totals
 * are in the returned [2][channels] array. */
static inline const double *sum_rows(ChannelSums *sums, int64_t rows, AddRow add_row,
                                     const void *args) {
    int64_t channels = sums->channels, width = 2 * channels;
    int t = omp_get_thread_num();
    double *partial = sums->partial + (size_t)t * width;
    float *block = sums->block + (size_t)t * width;
    double *total = sums->partial + (size_t)sums->threads * width;
#pragma omp for schedule(static)
    for (int64_t start = 0; start < rows; start += BLOCK_ROWS) {
        int64_t end = start + BLOCK_ROWS < rows ? start + BLOCK_ROWS : rows;
        memset(block, 0, width * sizeof(float));
        for (int64_t r = start; r < end; r++)
            add_row(args, r * channels, channels, block, block + channels);
        for (int64_t c = 0; c < width; c++) partial[c] += block[c];
    }
#pragma omp single
    for (int t = 0; t < sums->threads; t++)
        for (int64_t c = 0; c < width; c++) total[c] += sums->partial[(size_t)t * width + c];
    return total;
}

/* args: x */
static inline void add_moments(const void *args, int64_t offset, int64_t channels,
                               float *restrict sum, float *restrict sum_sq) {
    const float *restrict in = (const float *)args + offset;
#pragma omp simd
    for (int64_t c = 0; c < channels; c++) {
        sum[c] += in[c];
        sum_sq[c] += in[c] * in[c];
    }
}

/* y = silu(batch_norm(x)); the batch mean and 1 / sqrt(var + eps) go to save_mean and
 * save_invstd, the running statistics move by momentum (the variance unbiased). */
int bn_silu_forward(const float *restrict x, int64_t rows, int64_t channels,
                    const float *restrict weight, const float *restrict bias,
                    float *restrict running_mean, float *restrict running_var, float momentum,
                    float eps, float *restrict y, float *restrict save_mean,
                    float *restrict save_invstd) {
    ChannelSums sums;
    if (sums_init(&sums, channels, 2) != 0) return -1;
    float *scale = sums.scratch, *shift = scale + channels;
#pragma omp parallel num_threads(sums.threads)
    {
        const double *total = sum_rows(&sums, rows, add_moments, x);
#pragma omp single
        for (int64_t c = 0; c < channels; c++) {
            double mean = total[c] / rows;
            double var = total[channels + c] / rows - mean * mean;
            var = var > 0.0 ? var : 0.0;
            float invstd = (float)(1.0 / sqrt(var + eps));
            save_mean[c] = (float)mean;
            save_invstd[c] = invstd;
            scale[c] = weight[c] * invstd;
            shift[c] = bias[c] - (float)mean * scale[c];
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
            running_var[c] = (1.0f - momentum) * running_var[c] +
                             momentum * (float)(var * rows / (rows - 1));
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict in = x + r * channels;
            float *restrict out = y + r * channels;
#pragma omp simd
            for (int64_t c = 0; c < channels; c++) out[c] = silu(in[c] * scale[c] + shift[c]);
        }
    }
    sums_free(&sums);
    return 0;
}

typedef struct {
    const float *dy, *x, *scale, *shift, *mean, *invstd;
    float *dz;
} GradientArgs;

/* dz, the gradient at the BatchNorm output, is written (into dx) for the second pass. */
static inline void add_gradient_terms(const void *args, int64_t offset, int64_t channels,
                                      float *restrict sum_dz, float *restrict sum_dz_xhat) {
    const GradientArgs *a = args;
    const float *restrict grad = a->dy + offset, *restrict in = a->x + offset;
    float *restrict dz_out = a->dz + offset;
    const float *restrict scale = a->scale, *restrict shift = a->shift;
    const float *restrict mean = a->mean, *restrict invstd = a->invstd;
#pragma omp simd
    for (int64_t c = 0; c < channels; c++) {
        float z = in[c] * scale[c] + shift[c];
        float s = sigmoid(z);
        float dz = grad[c] * s * (1.0f + z * (1.0f - s));
        dz_out[c] = dz;
        sum_dz[c] += dz;
        sum_dz_xhat[c] += dz * ((in[c] - mean[c]) * invstd[c]);
    }
}

/* dx, grad_weight and grad_bias from dy, given the forward pass's x, mean and invstd. */
int bn_silu_backward(const float *restrict dy, const float *restrict x, int64_t rows,
                     int64_t channels, const float *restrict weight, const float *restrict bias,
                     const float *restrict mean, const float *restrict invstd,
                     float *restrict dx, float *restrict grad_weight, float *restrict grad_bias) {
    ChannelSums sums;
    if (sums_init(&sums, channels, 4) != 0) return -1;
    float *scale = sums.scratch, *shift = scale + channels;
    float *mean_dz = shift + channels, *mean_dz_xhat = mean_dz + channels;
    for (int64_t c = 0; c < channels; c++) {
        scale[c] = weight[c] * invstd[c];
        shift[c] = bias[c] - mean[c] * scale[c];
    }
    GradientArgs args = {dy, x, scale, shift, mean, invstd, dx};
#pragma omp parallel num_threads(sums.threads)
    {
        const double *total = sum_rows(&sums, rows, add_gradient_terms, &args);
#pragma omp single
        for (int64_t c = 0; c < channels; c++) {
            grad_bias[c] = (float)total[c];
            grad_weight[c] = (float)total[channels + c];
            mean_dz[c] = (float)(total[c] / rows);
            mean_dz_xhat[c] = (float)(total[channels + c] / rows);
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict in = x + r * channels;
            float *restrict out = dx + r * channels;
#pragma omp simd
            for (int64_t c = 0; c < channels; c++) {
                float xhat = (in[c] - mean[c]) * invstd[c];
                out[c] = (out[c] - mean_dz[c] - xhat * mean_dz_xhat[c]) * scale[c];
            }
        }
    }
    sums_free(&sums);
    return 0;
}
