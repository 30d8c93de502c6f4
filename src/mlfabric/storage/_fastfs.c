/* The per-file loop of tree materialization, in C.
 *
 * Placing 100,000 entries costs about 1 us of interpreter work per entry on top of the
 * system calls; for a --mode link clone (one link and one lstat per file) that is a third
 * of the time. The loop also runs without the GIL, so several threads can place disjoint
 * ranges at once. mlfabric.storage.fastfs wraps this and holds the same loop in Python
 * for installs built without a C compiler; the two are tested against each other.
 *
 * place(ops, srcs, dsts, start, stop, stats, inodes, kinds) -> (next, errno)
 *   for each i in [start, stop) whose ops[i] is in kinds: ops[i] is 'f' (link(srcs[i],
 *   dsts[i])), 'd' (mkdir(dsts[i], 0700)) or 'l' (symlink(srcs[i], dsts[i])); then
 *   lstat(dsts[i]) fills stats[4i:4i+4] (int64 size, mtime_ns, ctime_ns, mode) and
 *   inodes[i] (uint64 st_ino), two writable buffers. srcs and dsts are lists of bytes the
 *   caller does not change during the call. Stops at the first failing call: next is its
 *   index and errno its error (0 when all succeeded; next is then stop).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

typedef struct {
    Py_ssize_t index;
    char op;
    const char *src, *dst;
} Job;

/* Runs without the GIL. Returns the index of the first failure (errno in *err), or -1. */
static Py_ssize_t run_jobs(const Job *jobs, Py_ssize_t n, int64_t *stats, uint64_t *inodes,
                           int *err) {
    for (Py_ssize_t k = 0; k < n; k++) {
        const Job *j = &jobs[k];
        int rc = j->op == 'f' ? link(j->src, j->dst)
               : j->op == 'd' ? mkdir(j->dst, 0700)
                              : symlink(j->src, j->dst);
        struct stat st;
        if (rc != 0 || lstat(j->dst, &st) != 0) {
            *err = errno;
            return j->index;
        }
        int64_t *row = stats + 4 * j->index;
        row[0] = (int64_t)st.st_size;
        row[1] = ns(st.st_mtim);
        row[2] = ns(st.st_ctim);
        row[3] = (int64_t)st.st_mode;
        inodes[j->index] = (uint64_t)st.st_ino;
    }
    return -1;
}

static PyObject *place(PyObject *self, PyObject *args) {
    (void)self;
    const char *ops, *kinds;
    Py_ssize_t nops, nkinds, start, stop;
    PyObject *srcs, *dsts, *result = NULL;
    Py_buffer sbuf = {0}, ibuf = {0};
    Job *jobs = NULL;
    if (!PyArg_ParseTuple(args, "y#O!O!nnw*w*y#", &ops, &nops, &PyList_Type, &srcs,
                          &PyList_Type, &dsts, &start, &stop, &sbuf, &ibuf, &kinds, &nkinds))
        return NULL;
    if (start < 0 || stop < start || stop > nops || PyList_GET_SIZE(srcs) < stop ||
        PyList_GET_SIZE(dsts) < stop || sbuf.len < nops * 4 * (Py_ssize_t)sizeof(int64_t) ||
        ibuf.len < nops * (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "place: range outside ops, srcs, dsts or buffers");
        goto done;
    }
    jobs = PyMem_Malloc(sizeof(Job) * (size_t)(stop - start + 1));
    if (jobs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = start; i < stop; i++) {
        char op = ops[i];
        if (memchr(kinds, op, (size_t)nkinds) == NULL)
            continue;
        if (op != 'f' && op != 'd' && op != 'l') {
            PyErr_Format(PyExc_ValueError, "place: unknown op %c at %zd", op, i);
            goto done;
        }
        PyObject *dst = PyList_GET_ITEM(dsts, i), *src = PyList_GET_ITEM(srcs, i);
        if (!PyBytes_Check(dst) || (op != 'd' && !PyBytes_Check(src))) {
            PyErr_Format(PyExc_TypeError, "place: entry %zd is not bytes", i);
            goto done;
        }
        jobs[n].index = i;
        jobs[n].op = op;
        jobs[n].src = op == 'd' ? NULL : PyBytes_AS_STRING(src);
        jobs[n].dst = PyBytes_AS_STRING(dst);
        n++;
    }
    int err = 0;
    Py_ssize_t failed;
    Py_BEGIN_ALLOW_THREADS
    failed = run_jobs(jobs, n, (int64_t *)sbuf.buf, (uint64_t *)ibuf.buf, &err);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("ni", failed < 0 ? stop : failed, failed < 0 ? 0 : err);
done:
    PyMem_Free(jobs);
    PyBuffer_Release(&sbuf);
    PyBuffer_Release(&ibuf);
    return result;
}

static PyMethodDef methods[] = {
    {"place", place, METH_VARARGS, "Create entries (link, mkdir, symlink) and lstat them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_fastfs", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastfs(void) { return PyModule_Create(&module); }
