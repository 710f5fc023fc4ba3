/* An OTLP Span message written in one pass: the C fast path of _otlp_wire.span(), which stays
   the reference and the fallback (docs/accelerator.md, "The native OTLP writer").

   span(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed, attributes, error)
   returns what _otlp_wire.python_span() returns for the same arguments, byte for byte, or None
   where it does not cover them: an error, an id or time that is not an exact int in range
   (which the Python path refuses), a kind other than "internal" or "client", a key that is not
   exactly a str, or a value (an array's items included) whose type is not exactly str, int
   within int64, float, bool, list or tuple (a subclass included), or arrays nested deeper
   than MAX_DEPTH.
   Strings are written as str.encode("utf-8", "surrogatepass") writes them. Only MemoryError is
   raised. It calls no Python function, so nothing changes the attributes while they are read.

   A field is its tag (field number << 3 | wire type), then a varint, 8 bytes, or a varint
   length and that many bytes; a length is known before its bytes are written, so each value's
   size is worked out first (value_size), then the value written (put_any_value). */

#include <stdint.h>

#include "_json_out.h"

#define ATTRIBUTE_TAG 0x4a  /* Span.attributes: field 9, length-delimited */

/* An exact str whose characters can be read in place (before Python 3.12, a string made by
   the C API's legacy calls may not be yet: the Python path takes it). */
#if PY_VERSION_HEX < 0x030C0000
#define IS_TEXT(value) (PyUnicode_CheckExact(value) && PyUnicode_IS_READY(value))
#else
#define IS_TEXT(value) PyUnicode_CheckExact(value)
#endif

static inline Py_ssize_t varint_size(uint64_t n) {
    Py_ssize_t size = 1;
    for (; n >= 0x80; n >>= 7)
        size++;
    return size;
}

static ALWAYS_INLINE int put_varint(Out *out, uint64_t n) {
    char bytes[10];
    Py_ssize_t length = 0;
    for (; n >= 0x80; n >>= 7)
        bytes[length++] = (char)((n & 0x7f) | 0x80);
    bytes[length++] = (char)n;
    return put(out, bytes, length);
}

static ALWAYS_INLINE int put_byte(Out *out, unsigned char byte) {
    return put(out, (const char *)&byte, 1);
}

/* 8 bytes, least significant first: fixed64 and double. */
static int put_fixed64(Out *out, uint64_t n) {
    char bytes[8];
    for (int i = 0; i < 8; i++, n >>= 8)
        bytes[i] = (char)(n & 0xff);
    return put(out, bytes, 8);
}

/* The size of an exact str's UTF-8, surrogates (lone or not) three bytes each as
   "surrogatepass" writes them. */
static Py_ssize_t text_size(PyObject *text) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text))
        return length;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t size = length;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size += (c >= 0x80) + (c >= 0x800) + (c >= 0x10000);
    }
    return size;
}

/* The text's UTF-8, `size` bytes (text_size()). */
static int put_text_bytes(Out *out, PyObject *text, Py_ssize_t size) {
    if (PyUnicode_IS_ASCII(text))
        return put(out, (const char *)PyUnicode_DATA(text), size);
    TRY(grow(out, size));
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    unsigned char *to = (unsigned char *)out->data + out->size;
    for (Py_ssize_t i = 0, length = PyUnicode_GET_LENGTH(text); i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *to++ = (unsigned char)c;
        } else if (c < 0x800) {
            *to++ = (unsigned char)(0xc0 | c >> 6);
            *to++ = (unsigned char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *to++ = (unsigned char)(0xe0 | c >> 12);
            *to++ = (unsigned char)(0x80 | (c >> 6 & 0x3f));
            *to++ = (unsigned char)(0x80 | (c & 0x3f));
        } else {
            *to++ = (unsigned char)(0xf0 | c >> 18);
            *to++ = (unsigned char)(0x80 | (c >> 12 & 0x3f));
            *to++ = (unsigned char)(0x80 | (c >> 6 & 0x3f));
            *to++ = (unsigned char)(0x80 | (c & 0x3f));
        }
    }
    out->size += size;
    return WRITTEN;
}

/* A field holding a string: tag, length, UTF-8. */
static int put_text_field(Out *out, unsigned char tag, PyObject *text) {
    Py_ssize_t size = text_size(text);
    TRY(put_byte(out, tag));
    TRY(put_varint(out, (uint64_t)size));
    return put_text_bytes(out, text, size);
}

/* The size of the AnyValue message of `value` (common.proto: string 1, bool 2, int 3, double 4,
   array 5), or -1 for a value this writer leaves to the Python path (an int beyond int64
   among them). */
static Py_ssize_t value_size(PyObject *value, int depth) {
    if (IS_TEXT(value)) {
        Py_ssize_t size = text_size(value);
        return 1 + varint_size((uint64_t)size) + size;
    }
    if (PyBool_Check(value))
        return 2;
    if (PyLong_CheckExact(value)) {  /* beyond int64: the Python path writes its text */
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        return overflow ? -1 : 1 + varint_size((uint64_t)number);
    }
    if (PyFloat_CheckExact(value))
        return 9;
    if ((PyList_CheckExact(value) || PyTuple_CheckExact(value)) && depth < MAX_DEPTH) {
        Py_ssize_t items = 0;  /* ArrayValue: each item an AnyValue in field 1 */
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(value); i++) {
            Py_ssize_t size = value_size(PySequence_Fast_GET_ITEM(value, i), depth + 1);
            if (size < 0)
                return -1;
            items += 1 + varint_size((uint64_t)size) + size;
        }
        return 1 + varint_size((uint64_t)items) + items;
    }
    return -1;
}

/* The AnyValue of a value whose value_size() is `size`. */
static int put_any_value(Out *out, PyObject *value, Py_ssize_t size) {
    if (IS_TEXT(value))
        return put_text_field(out, 0x0a, value);
    if (PyBool_Check(value))
        return put(out, value == Py_True ? "\x10\x01" : "\x10\x00", 2);
    if (PyLong_CheckExact(value)) {  /* within int64 (value_size), two's complement */
        TRY(put_byte(out, 0x18));
        return put_varint(out, (uint64_t)PyLong_AsLongLong(value));
    }
    if (PyFloat_CheckExact(value)) {
        double number = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        memcpy(&bits, &number, 8);
        TRY(put_byte(out, 0x21));
        return put_fixed64(out, bits);
    }
    /* A list or tuple: its ArrayValue's length n, where size = 1 + varint_size(n) + n (one n
       does: varint_size(size - 1 - v) falls as v rises). */
    Py_ssize_t items = 0;
    for (Py_ssize_t v = 1; v <= 10; v++) {
        items = size - 1 - v;
        if (varint_size((uint64_t)items) == v)
            break;
    }
    TRY(put_byte(out, 0x2a));
    TRY(put_varint(out, (uint64_t)items));
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(value); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(value, i);
        Py_ssize_t item_size = value_size(item, 0);
        TRY(put_byte(out, 0x0a));
        TRY(put_varint(out, (uint64_t)item_size));
        TRY(put_any_value(out, item, item_size));
    }
    return WRITTEN;
}

/* Repeated KeyValue fields (key 1, value 2) numbered `tag`, one for each item of a dict. */
static int put_attributes(Out *out, unsigned char tag, PyObject *attributes) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(attributes, &position, &key, &value)) {
        if (!IS_TEXT(key))
            return NOT_MINE;
        Py_ssize_t size = value_size(value, 0);
        if (size < 0)
            return NOT_MINE;
        Py_ssize_t key_size = text_size(key);
        Py_ssize_t head = 1 + varint_size((uint64_t)key_size) + key_size;
        TRY(put_byte(out, tag));
        TRY(put_varint(out, (uint64_t)(head + 1 + varint_size((uint64_t)size) + size)));
        TRY(put_byte(out, 0x0a));
        TRY(put_varint(out, (uint64_t)key_size));
        TRY(put_text_bytes(out, key, key_size));
        TRY(put_byte(out, 0x12));
        TRY(put_varint(out, (uint64_t)size));
        TRY(put_any_value(out, value, size));
    }
    return WRITTEN;
}

/* An exact int from 0 below 2**64, into `n`. */
static int unsigned64(PyObject *number, uint64_t *n) {
    unsigned char bytes[8];
    TRY(unsigned_bytes(number, bytes, 8));
    *n = 0;
    for (int i = 0; i < 8; i++)
        *n = *n << 8 | bytes[i];
    return WRITTEN;
}

static int put_span(Out *out, PyObject *const *args) {
    PyObject *trace_id = args[0], *span_id = args[1], *parent_id = args[2], *name = args[3],
             *kind = args[4], *start_ns = args[5], *end_ns = args[6], *fixed = args[7],
             *attributes = args[8], *error = args[9];
    unsigned char ids[16];
    uint64_t start, end;
    if (error != Py_None || !IS_TEXT(name) || !PyUnicode_CheckExact(kind) ||
            !PyBytes_CheckExact(fixed) || !PyDict_CheckExact(attributes))
        return NOT_MINE;
    const char *span_kind;  /* Span.kind, field 6: SPAN_KIND_INTERNAL 1, SPAN_KIND_CLIENT 3 */
    if (PyUnicode_CompareWithASCIIString(kind, "internal") == 0)
        span_kind = "\x30\x01";
    else if (PyUnicode_CompareWithASCIIString(kind, "client") == 0)
        span_kind = "\x30\x03";
    else
        return NOT_MINE;
    TRY(unsigned64(start_ns, &start));
    TRY(unsigned64(end_ns, &end));
    TRY(unsigned_bytes(trace_id, ids, 16));
    TRY(put(out, "\x0a\x10", 2));  /* trace_id: field 1, 16 bytes */
    TRY(put(out, (const char *)ids, 16));
    TRY(unsigned_bytes(span_id, ids, 8));
    TRY(put(out, "\x12\x08", 2));  /* span_id: field 2, 8 bytes */
    TRY(put(out, (const char *)ids, 8));
    if (parent_id != Py_None) {  /* parent_span_id: field 4, left out for none or 0 */
        TRY(unsigned_bytes(parent_id, ids, 8));
        if (memcmp(ids, "\0\0\0\0\0\0\0\0", 8) != 0) {
            TRY(put(out, "\x22\x08", 2));
            TRY(put(out, (const char *)ids, 8));
        }
    }
    TRY(put_text_field(out, 0x2a, name));  /* name: field 5 */
    TRY(put(out, span_kind, 2));
    TRY(put_byte(out, 0x39));  /* start_time_unix_nano: field 7, fixed64 */
    TRY(put_fixed64(out, start));
    TRY(put_byte(out, 0x41));  /* end_time_unix_nano: field 8, fixed64 */
    TRY(put_fixed64(out, end));
    TRY(put(out, PyBytes_AS_STRING(fixed), PyBytes_GET_SIZE(fixed)));
    TRY(put_attributes(out, ATTRIBUTE_TAG, attributes));
    return put(out, "\x7a\x02\x18\x01", 4);  /* status: field 15, code STATUS_CODE_OK */
}

static PyObject *span(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "span() takes the 10 arguments of _otlp_wire.span()");
        return NULL;
    }
    Out out;
    out_start(&out);
    return out_result(&out, put_span(&out, args));
}

static PyMethodDef methods[] = {
    {"span", (PyCFunction)(void (*)(void))span, METH_FASTCALL,
     "span(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed, attributes, "
     "error) -> bytes | None: the encoded Span message _otlp_wire.python_span() writes, or None "
     "for arguments it must encode itself."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_otlp_native",
    "The C fast path of _otlp_wire.span() (_otlp_wire.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__otlp_native(void) {
    return PyModule_Create(&module);
}
