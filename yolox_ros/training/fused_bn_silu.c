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

static void add_partials(const double *partial, int threads, int64_t width, double *total) {
    memset(total, 0, width * sizeof(double));
    for (int t = 0; t < threads; t++)
        for (int64_t c = 0; c < width; c++) total[c] += partial[t * width + c];
}

/* y = silu(batch_norm(x)); the batch mean and 1 / sqrt(var + eps) go to save_mean and
 * save_invstd, the running statistics move by momentum (the variance unbiased). */
int bn_silu_forward(const float *restrict x, int64_t rows, int64_t channels,
                    const float *restrict weight, const float *restrict bias,
                    float *restrict running_mean, float *restrict running_var, float momentum,
                    float eps, float *restrict y, float *restrict save_mean,
                    float *restrict save_invstd) {
    int threads = omp_get_max_threads();
    double *partial = calloc((size_t)(threads + 1) * 2 * channels, sizeof(double));
    float *scratch = malloc((size_t)(threads + 1) * 2 * channels * sizeof(float));
    if (!partial || !scratch) {
        free(partial);
        free(scratch);
        return -1;
    }
    double *total = partial + (size_t)threads * 2 * channels;
    float *scale = scratch + (size_t)threads * 2 * channels, *shift = scale + channels;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        double *sum = partial + (size_t)t * 2 * channels, *sum_sq = sum + channels;
        float *block = scratch + (size_t)t * 2 * channels, *block_sq = block + channels;
#pragma omp for schedule(static)
        for (int64_t start = 0; start < rows; start += BLOCK_ROWS) {
            int64_t end = start + BLOCK_ROWS < rows ? start + BLOCK_ROWS : rows;
            memset(block, 0, 2 * channels * sizeof(float));
            for (int64_t r = start; r < end; r++) {
                const float *restrict in = x + r * channels;
#pragma omp simd
                for (int64_t c = 0; c < channels; c++) {
                    block[c] += in[c];
                    block_sq[c] += in[c] * in[c];
                }
            }
            for (int64_t c = 0; c < channels; c++) {
                sum[c] += block[c];
                sum_sq[c] += block_sq[c];
            }
        }
#pragma omp single
        {
            add_partials(partial, threads, 2 * channels, total);
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
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict in = x + r * channels;
            float *restrict out = y + r * channels;
#pragma omp simd
            for (int64_t c = 0; c < channels; c++) {
                float z = in[c] * scale[c] + shift[c];
                out[c] = z * sigmoid(z);
            }
        }
    }
    free(partial);
    free(scratch);
    return 0;
}

/* dx, grad_weight and grad_bias from dy, given the forward pass's x, mean and invstd. */
int bn_silu_backward(const float *restrict dy, const float *restrict x, int64_t rows,
                     int64_t channels, const float *restrict weight, const float *restrict bias,
                     const float *restrict mean, const float *restrict invstd,
                     float *restrict dx, float *restrict grad_weight, float *restrict grad_bias) {
    int threads = omp_get_max_threads();
    double *partial = calloc((size_t)(threads + 1) * 2 * channels, sizeof(double));
    float *scratch = malloc((size_t)(threads * 2 + 4) * channels * sizeof(float));
    if (!partial || !scratch) {
        free(partial);
        free(scratch);
        return -1;
    }
    double *total = partial + (size_t)threads * 2 * channels;
    float *scale = scratch + (size_t)threads * 2 * channels, *shift = scale + channels;
    float *mean_dz = shift + channels, *mean_dz_xhat = mean_dz + channels;
    for (int64_t c = 0; c < channels; c++) {
        scale[c] = weight[c] * invstd[c];
        shift[c] = bias[c] - mean[c] * scale[c];
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        double *sum_dz = partial + (size_t)t * 2 * channels, *sum_dz_xhat = sum_dz + channels;
        float *block = scratch + (size_t)t * 2 * channels, *block_xhat = block + channels;
        /* dz, the gradient at the BatchNorm output, is kept in dx for the second pass. */
#pragma omp for schedule(static)
        for (int64_t start = 0; start < rows; start += BLOCK_ROWS) {
            int64_t end = start + BLOCK_ROWS < rows ? start + BLOCK_ROWS : rows;
            memset(block, 0, 2 * channels * sizeof(float));
            for (int64_t r = start; r < end; r++) {
                const float *restrict grad = dy + r * channels;
                const float *restrict in = x + r * channels;
                float *restrict dz_out = dx + r * channels;
#pragma omp simd
                for (int64_t c = 0; c < channels; c++) {
                    float z = in[c] * scale[c] + shift[c];
                    float s = sigmoid(z);
                    float dz = grad[c] * s * (1.0f + z * (1.0f - s));
                    dz_out[c] = dz;
                    block[c] += dz;
                    block_xhat[c] += dz * ((in[c] - mean[c]) * invstd[c]);
                }
            }
            for (int64_t c = 0; c < channels; c++) {
                sum_dz[c] += block[c];
                sum_dz_xhat[c] += block_xhat[c];
            }
        }
#pragma omp single
        {
            add_partials(partial, threads, 2 * channels, total);
            for (int64_t c = 0; c < channels; c++) {
                grad_bias[c] = (float)total[c];
                grad_weight[c] = (float)total[channels + c];
                mean_dz[c] = (float)(total[c] / rows);
                mean_dz_xhat[c] = (float)(total[channels + c] / rows);
            }
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
    free(partial);
    free(scratch);
    return 0;
}
