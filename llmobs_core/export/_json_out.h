/* The JSON writer under the C event writer (_span_json_native.c): a growing buffer, which the
   OTLP writer (_otlp_native.c) writes into too, an int's big-endian bytes for both, and the
   values it writes exactly as orjson writes them, or NOT_MINE for a value it does not cover
   (docs/accelerator.md, "The native event writer"). */

#ifndef LLMOBS_JSON_OUT_H
#define LLMOBS_JSON_OUT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define WRITTEN 0
#define FAILED (-1)   /* an exception is set */
#define NOT_MINE 1    /* the record takes SpanJSON's Python path */
/* Deeper values take the Python path, where orjson decides (it refuses 255 levels). */
#define MAX_DEPTH 64
#define INLINE_BYTES 2048

#define TRY(call) do { int status_ = (call); if (status_ != WRITTEN) return status_; } while (0)
#define PUT_LITERAL(out, text) put((out), (text), (Py_ssize_t)sizeof(text) - 1)

/* What is being written: on the stack while small, on the heap once it grows. */
typedef struct {
    char *data;
    Py_ssize_t size, capacity;
    char inline_data[INLINE_BYTES];
} Out;

int move_to_heap(Out *out, Py_ssize_t needed);

/* An empty Out, its data on the stack. */
static inline void out_start(Out *out) {
    out->data = out->inline_data;
    out->size = 0;
    out->capacity = INLINE_BYTES;
}

/* What a writer's Python function returns for its status: the bytes written (WRITTEN), None
   (NOT_MINE) or NULL with the exception set (FAILED); the heap's copy, if any, is freed. */
PyObject *out_result(Out *out, int status);

/* Room for `more` bytes: called before each write, so it is small and inlined, with the rare
   move to the heap out of line. */
static inline int grow(Out *out, Py_ssize_t more) {
    return out->size + more <= out->capacity ? WRITTEN : move_to_heap(out, out->size + more);
}

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define ALWAYS_INLINE __forceinline
#else
#define ALWAYS_INLINE inline
#endif

/* Always inlined: a literal's length is then a constant, and its memcpy a few moves rather
   than a call into the C library. */
static ALWAYS_INLINE int put(Out *out, const char *bytes, Py_ssize_t length) {
    TRY(grow(out, length));
    memcpy(out->data + out->size, bytes, length);
    out->size += length;
    return WRITTEN;
}

int json_out_ready(void);  /* imports orjson, which writes floats; -1 with an exception */
int put_text(Out *out, PyObject *text);  /* an exact str's escaped bytes, without quotes */
int put_string(Out *out, PyObject *text);  /* the same between quotes */
int put_int(Out *out, PyObject *number);
int put_items(Out *out, PyObject *sequence, int depth);  /* an exact list or tuple */
int put_dict(Out *out, PyObject *dict, int depth, int refuse_dots);  /* an exact dict */
int put_value(Out *out, PyObject *value, int depth);
/* An exact int below 2**(8 * width), not negative, as `width` big-endian bytes. */
int unsigned_bytes(PyObject *number, unsigned char *bytes, Py_ssize_t width);

#endif
