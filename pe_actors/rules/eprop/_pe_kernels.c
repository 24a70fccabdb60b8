/* The e-prop PE's per-synapse loops, compiled ahead of time (built by pip install, see setup.py).

   The same three loops as the numba kernels of pe_actors/rules/eprop/kernels.py, in the same order of operations,
   built with -ffp-contract=off and without -ffast-math, so that they round exactly like numba's and numpy's (no
   fused multiply-add, no reassociation): the PE's numbers do not depend on the kernel. A PE process that uses
   them never loads numba and LLVM (about 42 MB per process).

   Arrays come in through the buffer protocol (numpy arrays, C-contiguous, all float64 or all float32); shapes are
   checked, and a mismatch is a ValueError naming the argument.

     adaptation_step(ea, decay, gain_pre, psi):  ea[b,i,j] = ea[b,i,j] decay[b,j] + gain_pre[b,i] psi[b,j]
     accumulate_step(acc, ea, ev, beta, c_psi):  acc[b,i,j] += (ev[b,i] - beta ea[b,i,j]) c_psi[b,j]
     weighted_sum(acc, signal, out):             out[i,j] = sum_b acc[b,i,j] signal[b,j]   (b in order)
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Each loop is compiled twice, for AVX2 and for any x86-64, and the loader picks the one the CPU runs (GCC's
   function multiversioning): numba's host-CPU speed or better from one build that runs on every node. Neither
   version fuses multiply-adds (-ffp-contract=off), so both round alike. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KERNEL __attribute__((target_clones("avx2", "default"))) static
#else
#define KERNEL static
#endif

typedef struct {
    Py_buffer view;
    int held;
} Array;

static void release(Array *arrays, int n) {
    for (int a = 0; a < n; a++) {
        if (arrays[a].held) {
            PyBuffer_Release(&arrays[a].view);
            arrays[a].held = 0;
        }
    }
}

/* Release the buffers and return None, or NULL with the error already set when failed. */
static PyObject *finish(Array *arrays, int n, int failed) {
    release(arrays, n);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* Take the buffer of obj as a C-contiguous array of ndim dimensions; 'd' (float64) or 'f' (float32). */
static int take(PyObject *obj, Array *array, int ndim, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &array->view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous%s float32 or float64 array", name,
                     writable ? ", writable" : "");
        return -1;
    }
    array->held = 1;
    const char *format = array->view.format;
    if (array->view.ndim != ndim || format == NULL || format[1] != '\0' || (format[0] != 'd' && format[0] != 'f')) {
        PyErr_Format(PyExc_ValueError, "%s must be a %d-dimensional float32 or float64 array", name, ndim);
        return -1;
    }
    return 0;
}

static int same_dtype(Array *arrays, int n, const char **names) {
    for (int a = 1; a < n; a++) {
        if (arrays[a].view.format[0] != arrays[0].view.format[0]) {
            PyErr_Format(PyExc_ValueError, "%s must have the dtype of %s", names[a], names[0]);
            return -1;
        }
    }
    return 0;
}

static int shape_is(Array *array, Py_ssize_t d0, Py_ssize_t d1, const char *name) {
    if (array->view.shape[0] != d0 || array->view.shape[1] != d1) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (%zd, %zd), got (%zd, %zd)", name, d0, d1,
                     array->view.shape[0], array->view.shape[1]);
        return -1;
    }
    return 0;
}

#define ADAPTATION_STEP(T)                                                                       \
    KERNEL void adaptation_##T(T *restrict ea, const T *restrict decay, const T *restrict gain,  \
                               const T *restrict psi, Py_ssize_t k, Py_ssize_t n, Py_ssize_t m) { \
        for (Py_ssize_t b = 0; b < k; b++) {                                                     \
            const T *d = decay + b * m, *p = psi + b * m;                                        \
            for (Py_ssize_t i = 0; i < n; i++) {                                                 \
                const T g = gain[b * n + i];                                                     \
                T *row = ea + (b * n + i) * m;                                                   \
                for (Py_ssize_t j = 0; j < m; j++) row[j] = row[j] * d[j] + g * p[j];            \
            }                                                                                    \
        }                                                                                        \
    }
ADAPTATION_STEP(double)
ADAPTATION_STEP(float)

#define ACCUMULATE_STEP(T)                                                                                  \
    KERNEL void accumulate_##T(T *restrict acc, const T *restrict ea, const T *restrict ev, T beta,        \
                               const T *restrict c_psi, Py_ssize_t k, Py_ssize_t n, Py_ssize_t m) {         \
        for (Py_ssize_t b = 0; b < k; b++) {                                                                \
            const T *c = c_psi + b * m;                                                                     \
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \
                const T e = ev[b * n + i];                                                                  \
                const T *trace = ea + (b * n + i) * m;                                                      \
                T *row = acc + (b * n + i) * m;                                                             \
                for (Py_ssize_t j = 0; j < m; j++) row[j] += (e - beta * trace[j]) * c[j];                  \
            }                                                                                               \
        }                                                                                                   \
    }
ACCUMULATE_STEP(double)
ACCUMULATE_STEP(float)

#define WEIGHTED_SUM(T)                                                                                      \
    KERNEL void weighted_##T(const T *restrict acc, const T *restrict signal, T *restrict out, Py_ssize_t k,   \
                             Py_ssize_t n, Py_ssize_t m) {                                                   \
        memset(out, 0, sizeof(T) * n * m);                                                                   \
        for (Py_ssize_t b = 0; b < k; b++) {                                                                 \
            const T *s = signal + b * m;                                                                     \
            for (Py_ssize_t i = 0; i < n; i++) {                                                             \
                const T *row = acc + (b * n + i) * m;                                                        \
                T *o = out + i * m;                                                                          \
                for (Py_ssize_t j = 0; j < m; j++) o[j] += row[j] * s[j];                                    \
            }                                                                                                \
        }                                                                                                    \
    }
WEIGHTED_SUM(double)
WEIGHTED_SUM(float)

static PyObject *adaptation_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char *names[] = {"ea", "decay", "gain_pre", "psi"};
    Array a[4] = {{0}};
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "adaptation_step(ea, decay, gain_pre, psi) takes 4 arguments");
        return NULL;
    }
    if (take(args[0], &a[0], 3, 1, names[0]) || take(args[1], &a[1], 2, 0, names[1]) ||
        take(args[2], &a[2], 2, 0, names[2]) || take(args[3], &a[3], 2, 0, names[3]) || same_dtype(a, 4, names))
        goto fail;
    Py_ssize_t k = a[0].view.shape[0], n = a[0].view.shape[1], m = a[0].view.shape[2];
    if (shape_is(&a[1], k, m, names[1]) || shape_is(&a[2], k, n, names[2]) || shape_is(&a[3], k, m, names[3]))
        goto fail;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].view.format[0] == 'd')
        adaptation_double(a[0].view.buf, a[1].view.buf, a[2].view.buf, a[3].view.buf, k, n, m);
    else
        adaptation_float(a[0].view.buf, a[1].view.buf, a[2].view.buf, a[3].view.buf, k, n, m);
    Py_END_ALLOW_THREADS
    return finish(a, 4, 0);
fail:
    return finish(a, 4, 1);
}

static PyObject *accumulate_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char *names[] = {"acc", "ea", "ev", "c_psi"};
    Array a[4] = {{0}};
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "accumulate_step(acc, ea, ev, beta, c_psi) takes 5 arguments");
        return NULL;
    }
    double beta = PyFloat_AsDouble(args[3]);
    if (beta == -1.0 && PyErr_Occurred()) return NULL;
    if (take(args[0], &a[0], 3, 1, names[0]) || take(args[1], &a[1], 3, 0, names[1]) ||
        take(args[2], &a[2], 2, 0, names[2]) || take(args[4], &a[3], 2, 0, names[3]) || same_dtype(a, 4, names))
        goto fail;
    Py_ssize_t k = a[0].view.shape[0], n = a[0].view.shape[1], m = a[0].view.shape[2];
    if (a[1].view.shape[0] != k || a[1].view.shape[1] != n || a[1].view.shape[2] != m) {
        PyErr_SetString(PyExc_ValueError, "ea must have the shape of acc");
        goto fail;
    }
    if (shape_is(&a[2], k, n, names[2]) || shape_is(&a[3], k, m, names[3])) goto fail;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].view.format[0] == 'd')
        accumulate_double(a[0].view.buf, a[1].view.buf, a[2].view.buf, beta, a[3].view.buf, k, n, m);
    else /* beta rounded to float32 first, as the numba kernel receives it */
        accumulate_float(a[0].view.buf, a[1].view.buf, a[2].view.buf, (float)beta, a[3].view.buf, k, n, m);
    Py_END_ALLOW_THREADS
    return finish(a, 4, 0);
fail:
    return finish(a, 4, 1);
}

static PyObject *weighted_sum(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char *names[] = {"acc", "signal", "out"};
    Array a[3] = {{0}};
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "weighted_sum(acc, signal, out) takes 3 arguments");
        return NULL;
    }
    if (take(args[0], &a[0], 3, 0, names[0]) || take(args[1], &a[1], 2, 0, names[1]) ||
        take(args[2], &a[2], 2, 1, names[2]) || same_dtype(a, 3, names))
        goto fail;
    Py_ssize_t k = a[0].view.shape[0], n = a[0].view.shape[1], m = a[0].view.shape[2];
    if (shape_is(&a[1], k, m, names[1]) || shape_is(&a[2], n, m, names[2])) goto fail;
    Py_BEGIN_ALLOW_THREADS
    if (a[0].view.format[0] == 'd')
        weighted_double(a[0].view.buf, a[1].view.buf, a[2].view.buf, k, n, m);
    else
        weighted_float(a[0].view.buf, a[1].view.buf, a[2].view.buf, k, n, m);
    Py_END_ALLOW_THREADS
    return finish(a, 3, 0);
fail:
    return finish(a, 3, 1);
}

static PyMethodDef methods[] = {
    {"adaptation_step", (PyCFunction)(void (*)(void))adaptation_step, METH_FASTCALL,
     "ea = ea * decay[:, None, :] + gain_pre[:, :, None] * psi[:, None, :], in place."},
    {"accumulate_step", (PyCFunction)(void (*)(void))accumulate_step, METH_FASTCALL,
     "acc += (ev[:, :, None] - beta * ea) * c_psi[:, None, :], in place."},
    {"weighted_sum", (PyCFunction)(void (*)(void))weighted_sum, METH_FASTCALL,
     "out[i, j] = sum_b acc[b, i, j] * signal[b, j], into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pe_kernels",
    "The e-prop PE's per-synapse loops, compiled ahead of time (no numba in the process).", -1, methods,
};

PyMODINIT_FUNC PyInit__pe_kernels(void) { return PyModule_Create(&module); }
