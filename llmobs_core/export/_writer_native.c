/* The writer's one piece of C (writer.py, docs/accelerator.md "Records the collector skips"):
   untrack(record) takes a span's record, waiting in the writer's queue, out of the cyclic
   garbage collector's passes.

   CPython keeps a tuple tracked for as long as it holds a dict (an annotated span's metadata,
   its messages), so each queued record was visited by every collection while it waited, and
   a deep queue made each collection longer. Untracking it is safe: a record is referred to by
   the queue alone (the span that made it is gone, and nothing of the application's can reach
   it), so it can be in no reference cycle and is freed by its reference count when the writer
   lets it go; and what it holds stays alive, for a collection counts every reference from an
   object it does not track as one from outside. Without the accelerator records stay tracked,
   which costs time, not correctness. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *untrack(PyObject *module, PyObject *record) {
    if (PyTuple_CheckExact(record) && PyObject_GC_IsTracked(record))
        PyObject_GC_UnTrack(record);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"untrack", untrack, METH_O,
     "untrack(record): an exact tuple, a span's record in the writer's queue, is left out of "
     "the cyclic garbage collector's passes; anything else is left as it is."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_writer_native",
    "The writer's C helper: records the garbage collector skips while they wait (writer.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__writer_native(void) {
    return PyModule_Create(&module);
}
