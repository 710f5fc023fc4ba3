/* The usual shapes of a caller's W3C trace headers, read in C: the fast path of w3c.py's
   parse_traceparent() and _decode_dd_member(), which stay the reference and the fallback
   (docs/accelerator.md, "The native header reader").

   traceparent(value) returns what parse_traceparent() returns for a version-00 traceparent of
   exactly 55 characters with valid ids, (trace id, span id, flags); None for any other value,
   which parse_traceparent() then reads (and mostly refuses).

   dd_member(header) returns what _decode_dd_member() returns, (priority or None, tags), for a
   tracestate whose first member is its only dd= member, made of printable ASCII, with no key
   given twice; None for any other header, which _decode_dd_member() then reads. Only
   MemoryError is raised. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Each byte's value as a lowercase hex digit, or -1: filled when the module is made. */
static signed char hex_values[256];

static inline int hex_digit(char c) {
    return hex_values[(unsigned char)c];
}

/* `digits` lowercase hex digits, not all zero: 1, else 0. */
static int is_hex_id(const char *text, Py_ssize_t digits) {
    int nonzero = 0;
    for (Py_ssize_t i = 0; i < digits; i++) {
        if (hex_digit(text[i]) < 0)
            return 0;
        nonzero |= text[i] != '0';
    }
    return nonzero;
}

static PyObject *traceparent(PyObject *module, PyObject *value) {
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_COMPACT_ASCII(value) ||
            PyUnicode_GET_LENGTH(value) != 55)
        Py_RETURN_NONE;
    const char *text = (const char *)PyUnicode_DATA(value);
    /* "00-" trace id (32) "-" span id (16) "-" flags (2) */
    if (text[0] != '0' || text[1] != '0' || text[2] != '-' || text[35] != '-' ||
            text[52] != '-' || !is_hex_id(text + 3, 32) || !is_hex_id(text + 36, 16) ||
            hex_digit(text[53]) < 0 || hex_digit(text[54]) < 0)
        Py_RETURN_NONE;
    unsigned char trace_bytes[16];  /* big-endian */
    for (int i = 0; i < 16; i++)
        trace_bytes[i] = (unsigned char)(hex_digit(text[3 + 2 * i]) << 4 |
                                         hex_digit(text[4 + 2 * i]));
    unsigned long long span_id = 0;
    for (int i = 36; i < 52; i++)
        span_id = span_id << 4 | (unsigned long long)hex_digit(text[i]);
    long flags = hex_digit(text[53]) << 4 | hex_digit(text[54]);
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *trace_id = PyLong_FromUnsignedNativeBytes(trace_bytes, 16,
                                                        Py_ASNATIVEBYTES_BIG_ENDIAN);
#else
    PyObject *trace_id = _PyLong_FromByteArray(trace_bytes, 16, 0, 0);
#endif
    if (trace_id == NULL)
        return NULL;
    PyObject *span = PyLong_FromUnsignedLongLong(span_id);
    PyObject *flag_value = PyLong_FromLong(flags);
    if (span == NULL || flag_value == NULL) {
        Py_DECREF(trace_id);
        Py_XDECREF(span);
        Py_XDECREF(flag_value);
        return NULL;
    }
    PyObject *parsed = PyTuple_Pack(3, trace_id, span, flag_value);
    Py_DECREF(trace_id);
    Py_DECREF(span);
    Py_DECREF(flag_value);
    return parsed;
}

/* parse_priority(): "-1", "0", ... within -255..255, as the pattern -?[0-9]{1,3} reads it;
   None for other text. */
static PyObject *priority(const char *text, Py_ssize_t length) {
    int negative = length > 0 && text[0] == '-';
    Py_ssize_t digits = length - negative;
    if (digits < 1 || digits > 3)
        Py_RETURN_NONE;
    long value = 0;
    for (Py_ssize_t i = negative; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            Py_RETURN_NONE;
        value = value * 10 + (text[i] - '0');
    }
    if (value > 255)
        Py_RETURN_NONE;
    return PyLong_FromLong(negative ? -value : value);
}

/* A tag's value, "~" read as "=" (a copy: one-character strs are shared). */
static PyObject *tag_value(const char *value, Py_ssize_t length) {
    if (memchr(value, '~', (size_t)length) == NULL)
        return PyUnicode_FromStringAndSize(value, length);
    char *copy = PyMem_Malloc((size_t)length);
    if (copy == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < length; i++)
        copy[i] = value[i] == '~' ? '=' : value[i];
    PyObject *text = PyUnicode_FromStringAndSize(copy, length);
    PyMem_Free(copy);
    return text;
}

/* The member's items, "key:value" separated by ";": those with a key, a ":" and a value and
   no "=" are fields; a field "s" is the priority, and each "t.<key>" a tag, "~" read as "=".
   -1 with an exception, 1 when a key comes twice (the Python path sorts that out), else 0. */
static int read_fields(const char *member, Py_ssize_t length, PyObject **found_priority,
                       PyObject *tags) {
    const char *keys[64];
    Py_ssize_t key_lengths[64];
    int fields = 0;
    for (Py_ssize_t start = 0; start <= length;) {
        const char *item = member + start;
        const char *end = memchr(item, ';', (size_t)(length - start));
        Py_ssize_t item_length = end ? end - item : length - start;
        start += item_length + 1;
        const char *colon = memchr(item, ':', (size_t)item_length);
        if (colon == NULL || colon == item || colon == item + item_length - 1 ||
                memchr(item, '=', (size_t)item_length) != NULL)
            continue;
        Py_ssize_t key_length = colon - item, value_length = item_length - key_length - 1;
        const char *value = colon + 1;
        for (int i = 0; i < fields; i++)
            if (key_lengths[i] == key_length && memcmp(keys[i], item, (size_t)key_length) == 0)
                return 1;
        if (fields == 64)
            return 1;
        keys[fields] = item;
        key_lengths[fields++] = key_length;
        if (key_length == 1 && item[0] == 's') {
            *found_priority = priority(value, value_length);
            if (*found_priority == NULL)
                return -1;
        } else if (key_length >= 2 && item[0] == 't' && item[1] == '.') {
            PyObject *key = PyUnicode_FromStringAndSize(item + 2, key_length - 2);
            PyObject *text = tag_value(value, value_length);
            int status = key == NULL || text == NULL ? -1 : PyDict_SetItem(tags, key, text);
            Py_XDECREF(key);
            Py_XDECREF(text);
            if (status < 0)
                return -1;
        }
    }
    return 0;
}

static PyObject *dd_member(PyObject *module, PyObject *header) {
    if (!PyUnicode_CheckExact(header) || !PyUnicode_IS_COMPACT_ASCII(header))
        Py_RETURN_NONE;
    const char *text = (const char *)PyUnicode_DATA(header);
    Py_ssize_t length = PyUnicode_GET_LENGTH(header);
    if (length < 3 || memcmp(text, "dd=", 3) != 0)
        Py_RETURN_NONE;
    for (Py_ssize_t i = 3; i + 3 <= length; i++)  /* a second dd= member, anywhere */
        if (text[i] == 'd' && memcmp(text + i, "dd=", 3) == 0)
            Py_RETURN_NONE;
    const char *comma = memchr(text, ',', (size_t)length);
    Py_ssize_t end = comma ? comma - text : length;
    while (end > 3 && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        end--;
    for (Py_ssize_t i = 3; i < end; i++)
        if (text[i] < 0x20 || text[i] > 0x7e)  /* str.isprintable(), in ASCII */
            Py_RETURN_NONE;
    PyObject *tags = PyDict_New();
    if (tags == NULL)
        return NULL;
    PyObject *found_priority = NULL;
    int status = read_fields(text + 3, end - 3, &found_priority, tags);
    if (status != 0) {
        Py_DECREF(tags);
        Py_XDECREF(found_priority);
        if (status < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *result = PyTuple_Pack(2, found_priority ? found_priority : Py_None, tags);
    Py_DECREF(tags);
    Py_XDECREF(found_priority);
    return result;
}

static PyMethodDef methods[] = {
    {"traceparent", traceparent, METH_O,
     "traceparent(value) -> (trace_id, span_id, flags) | None: parse_traceparent() of a "
     "version-00 traceparent with valid ids, or None for a value it must read itself."},
    {"dd_member", dd_member, METH_O,
     "dd_member(header) -> (priority, tags) | None: _decode_dd_member() of a tracestate in the "
     "usual shape, or None for a header it must read itself."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_w3c_native",
    "The C fast path of w3c.py's traceparent and tracestate readers.", -1, methods,
};

PyMODINIT_FUNC PyInit__w3c_native(void) {
    memset(hex_values, -1, sizeof hex_values);
    for (int i = 0; i < 16; i++)
        hex_values[(unsigned char)"0123456789abcdef"[i]] = (signed char)i;
    return PyModule_Create(&module);
}
