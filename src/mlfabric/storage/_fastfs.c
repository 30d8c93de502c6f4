/* The per-file loop of tree materialization, in C.
 *
 * Placing 100,000 entries costs about 1 us of interpreter work per entry on top of the
 * system calls; for a --mode link clone (one link and one lstat per file) that is a third
 * of the time. mlfabric.storage.fastfs wraps this and holds the same loop in Python for
 * installs built without a C compiler; the two are tested against each other.
 *
 * place(ops, srcs, dsts, start, stop) -> (next, errno, stats, inodes)
 *   for i in [start, stop): ops[i] is 'f' (link(srcs[i], dsts[i])), 'd' (mkdir(dsts[i],
 *   0700)) or 'l' (symlink(srcs[i], dsts[i])); then lstat(dsts[i]). srcs and dsts are
 *   lists of bytes. Stops at the first failing call: next is its index and errno its
 *   error (0 when all succeeded; next is then stop). stats packs int64 (size, mtime_ns,
 *   ctime_ns, mode) and inodes uint64 st_ino for each entry placed, in order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static PyObject *place(PyObject *self, PyObject *args) {
    const char *ops;
    Py_ssize_t nops, start, stop;
    PyObject *srcs, *dsts;
    if (!PyArg_ParseTuple(args, "y#O!O!nn", &ops, &nops, &PyList_Type, &srcs, &PyList_Type,
                          &dsts, &start, &stop))
        return NULL;
    if (start < 0 || stop < start || stop > nops || PyList_GET_SIZE(srcs) < stop ||
        PyList_GET_SIZE(dsts) < stop) {
        PyErr_SetString(PyExc_ValueError, "place: range outside ops, srcs or dsts");
        return NULL;
    }
    Py_ssize_t n = stop - start;
    PyObject *stats = PyBytes_FromStringAndSize(NULL, n * 4 * (Py_ssize_t)sizeof(int64_t));
    PyObject *inodes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint64_t));
    if (stats == NULL || inodes == NULL) {
        Py_XDECREF(stats);
        Py_XDECREF(inodes);
        return NULL;
    }
    int64_t *s = (int64_t *)PyBytes_AS_STRING(stats);
    uint64_t *ino = (uint64_t *)PyBytes_AS_STRING(inodes);
    Py_ssize_t i = start;
    int err = 0;
    for (; i < stop; i++) {
        PyObject *dst = PyList_GET_ITEM(dsts, i), *src = PyList_GET_ITEM(srcs, i);
        if (!PyBytes_Check(dst) || (ops[i] != 'd' && !PyBytes_Check(src))) {
            Py_DECREF(stats);
            Py_DECREF(inodes);
            PyErr_Format(PyExc_TypeError, "place: entry %zd is not bytes", i);
            return NULL;
        }
        const char *d = PyBytes_AS_STRING(dst);
        int rc;
        switch (ops[i]) {
        case 'f': rc = link(PyBytes_AS_STRING(src), d); break;
        case 'd': rc = mkdir(d, 0700); break;
        case 'l': rc = symlink(PyBytes_AS_STRING(src), d); break;
        default:
            Py_DECREF(stats);
            Py_DECREF(inodes);
            PyErr_Format(PyExc_ValueError, "place: unknown op %c at %zd", ops[i], i);
            return NULL;
        }
        struct stat st;
        if (rc != 0 || lstat(d, &st) != 0) {
            err = errno;
            break;
        }
        int64_t *row = s + 4 * (i - start);
        row[0] = (int64_t)st.st_size;
        row[1] = ns(st.st_mtim);
        row[2] = ns(st.st_ctim);
        row[3] = (int64_t)st.st_mode;
        ino[i - start] = (uint64_t)st.st_ino;
    }
    Py_ssize_t done = i - start;
    if (done < n) {  /* stopped early: keep only the rows written */
        if (_PyBytes_Resize(&stats, done * 4 * (Py_ssize_t)sizeof(int64_t)) < 0) {
            Py_DECREF(inodes);
            return NULL;
        }
        if (_PyBytes_Resize(&inodes, done * (Py_ssize_t)sizeof(uint64_t)) < 0) {
            Py_DECREF(stats);
            return NULL;
        }
    }
    return Py_BuildValue("niNN", i, err, stats, inodes);
}

static PyMethodDef methods[] = {
    {"place", place, METH_VARARGS, "Create entries (link, mkdir, symlink) and lstat them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastfs", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastfs(void) { return PyModule_Create(&module); }
