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
 *
 * walk(root) -> (paths, stats, inodes)
 *   every entry under the directory root (bytes), sorted by relative path (bytes order):
 *   paths a list of relative paths (bytes), stats int64 (size, mtime_ns, ctime_ns, mode)
 *   and inodes uint64 per entry, from lstat; a directory's size and times are 0 (the
 *   stat index does not track them). An entry that vanishes during the walk is left
 *   out; a directory that cannot be read raises OSError naming it.
 *
 * differing(a, b, a_inodes, b_inodes) -> list of the rows i where a[4i:4i+4] != b[4i:4i+4]
 *   or a_inodes[i] != b_inodes[i] (int64 and uint64 buffers of equal row counts).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* -- walk ---------------------------------------------------------------------------- */
typedef struct {
    char *rel;  /* relative path, NUL-terminated */
    int64_t s[4];
    uint64_t ino;
} Entry;

typedef struct {
    Entry *items;
    size_t n, cap;
} Entries;

static int push(Entries *es, char *rel, const struct stat *st) {
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 1024;
        Entry *items = realloc(es->items, cap * sizeof(Entry));
        if (items == NULL)
            return -1;
        es->items = items;
        es->cap = cap;
    }
    Entry *e = &es->items[es->n++];
    e->rel = rel;
    int dir = S_ISDIR(st->st_mode);
    e->s[0] = dir ? 0 : (int64_t)st->st_size;
    e->s[1] = dir ? 0 : ns(st->st_mtim);
    e->s[2] = dir ? 0 : ns(st->st_ctim);
    e->s[3] = (int64_t)st->st_mode;
    e->ino = (uint64_t)st->st_ino;
    return 0;
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const Entry *)a)->rel, ((const Entry *)b)->rel);
}

/* Runs without the GIL. Returns 0, or an errno with *failed naming the directory (malloc'd,
 * or NULL for the root). */
static int walk_tree(const char *root, Entries *es, char **failed) {
    size_t rootlen = strlen(root);
    /* Directories still to read: NULL is the root, otherwise an entry's rel (owned by es). */
    const char **todo = malloc(sizeof(char *) * 64);
    size_t ntodo = 0, captodo = 64;
    if (todo == NULL)
        return ENOMEM;
    todo[ntodo++] = NULL;
    int err = 0;
    while (ntodo > 0 && err == 0) {
        const char *rel = todo[--ntodo];
        size_t rlen = rel ? strlen(rel) : 0;
        char *dpath = malloc(rootlen + rlen + 2);
        if (dpath == NULL) {
            err = ENOMEM;
            break;
        }
        memcpy(dpath, root, rootlen);
        if (rel) {
            dpath[rootlen] = '/';
            memcpy(dpath + rootlen + 1, rel, rlen + 1);
        } else {
            dpath[rootlen] = '\0';
        }
        int fd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(dpath);
        DIR *dir = fd < 0 ? NULL : fdopendir(fd);
        if (dir == NULL) {
            err = errno;
            if (fd >= 0)
                close(fd);
            *failed = rel ? strdup(rel) : NULL;
            break;
        }
        struct dirent *de;
        errno = 0;
        while ((de = readdir(dir)) != NULL) {
            const char *name = de->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {  /* deleted while we walk: not in this snapshot */
                    errno = 0;
                    continue;
                }
                err = errno;
                *failed = rel ? strdup(rel) : NULL;
                break;
            }
            size_t nlen = strlen(name);
            char *child = malloc(rlen + nlen + 2);
            if (child == NULL) {
                err = ENOMEM;
                break;
            }
            if (rel) {
                memcpy(child, rel, rlen);
                child[rlen] = '/';
                memcpy(child + rlen + 1, name, nlen + 1);
            } else {
                memcpy(child, name, nlen + 1);
            }
            if (push(es, child, &st) != 0) {
                free(child);
                err = ENOMEM;
                break;
            }
            if (S_ISDIR(st.st_mode)) {
                if (ntodo == captodo) {
                    const char **more = realloc(todo, sizeof(char *) * captodo * 2);
                    if (more == NULL) {
                        err = ENOMEM;
                        break;
                    }
                    todo = more;
                    captodo *= 2;
                }
                todo[ntodo++] = child;
            }
            errno = 0;
        }
        if (err == 0 && errno != 0) {  /* readdir failed */
            err = errno;
            *failed = rel ? strdup(rel) : NULL;
        }
        closedir(dir);
    }
    free(todo);
    if (err == 0)
        qsort(es->items, es->n, sizeof(Entry), by_path);
    return err;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *root_obj;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &root_obj))
        return NULL;
    Entries es = {0};
    char *failed = NULL;
    int err;
    const char *root = PyBytes_AS_STRING(root_obj);
    Py_BEGIN_ALLOW_THREADS
    err = walk_tree(root, &es, &failed);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL, *paths = NULL, *stats = NULL, *inodes = NULL;
    if (err != 0) {
        errno = err;
        if (failed) {
            PyObject *name = PyBytes_FromFormat("%s/%s", root, failed);
            if (name != NULL) {
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
                Py_DECREF(name);
            }
        } else {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, root_obj);
        }
        goto done;
    }
    paths = PyList_New((Py_ssize_t)es.n);
    stats = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(es.n * 4 * sizeof(int64_t)));
    inodes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(es.n * sizeof(uint64_t)));
    if (paths == NULL || stats == NULL || inodes == NULL)
        goto done;
    int64_t *s = (int64_t *)PyBytes_AS_STRING(stats);
    uint64_t *ino = (uint64_t *)PyBytes_AS_STRING(inodes);
    for (size_t i = 0; i < es.n; i++) {
        PyObject *p = PyBytes_FromString(es.items[i].rel);
        if (p == NULL)
            goto done;
        PyList_SET_ITEM(paths, (Py_ssize_t)i, p);
        memcpy(s + 4 * i, es.items[i].s, sizeof(es.items[i].s));
        ino[i] = es.items[i].ino;
    }
    result = PyTuple_Pack(3, paths, stats, inodes);
done:
    Py_XDECREF(paths);
    Py_XDECREF(stats);
    Py_XDECREF(inodes);
    for (size_t i = 0; i < es.n; i++)
        free(es.items[i].rel);
    free(es.items);
    free(failed);
    Py_DECREF(root_obj);
    return result;
}

static PyObject *differing(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer a = {0}, b = {0}, ai = {0}, bi = {0};
    PyObject *out = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &a, &b, &ai, &bi))
        return NULL;
    Py_ssize_t n = ai.len / (Py_ssize_t)sizeof(uint64_t);
    if (a.len != b.len || ai.len != bi.len || a.len != n * 4 * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "differing: columns of different lengths");
        goto done;
    }
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    const int64_t *x = a.buf, *y = b.buf;
    const uint64_t *xi = ai.buf, *yi = bi.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (xi[i] == yi[i] && memcmp(x + 4 * i, y + 4 * i, 4 * sizeof(int64_t)) == 0)
            continue;
        PyObject *v = PyLong_FromSsize_t(i);
        if (v == NULL || PyList_Append(out, v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(v);
    }
done:
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&ai);
    PyBuffer_Release(&bi);
    return out;
}

static PyMethodDef methods[] = {
    {"place", place, METH_VARARGS, "Create entries (link, mkdir, symlink) and lstat them."},
    {"walk", walk, METH_VARARGS, "Every entry under a directory with its lstat, sorted."},
    {"differing", differing, METH_VARARGS, "The rows where two stat columns differ."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_fastfs", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastfs(void) { return PyModule_Create(&module); }
