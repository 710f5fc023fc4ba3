/* The JSON writer under the C event writer: see _json_out.h. */

#include <stdint.h>

#include "_json_out.h"

static PyObject *orjson_dumps;  /* writes floats */
static unsigned char escaped[256];  /* the bytes JSON escapes: control characters, '"', '\\' */

/* The floats written last, by their bits, with their text: metadata repeats its values
   (a temperature, a top_p) from one span to the next, and orjson's call costs more than the
   rest of a value. Slots are chosen by the bits' hash; a new float replaces the old. */
#define FLOAT_SLOTS 64
static struct {
    uint64_t bits;
    unsigned char length;  /* 0: empty */
    char text[31];
} floats[FLOAT_SLOTS];

static const char DIGIT_PAIRS[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

int json_out_ready(void) {
    PyObject *orjson = PyImport_ImportModule("orjson");
    if (orjson == NULL)
        return -1;
    for (int c = 0; c < 0x20; c++)
        escaped[c] = 1;
    escaped['"'] = escaped['\\'] = 1;
    orjson_dumps = PyObject_GetAttrString(orjson, "dumps");
    Py_DECREF(orjson);
    return orjson_dumps == NULL ? -1 : 0;
}

/* An exact int from 0 up to 2**(8 * width), big-endian: a trace or span id as the two C writers
   write it; NOT_MINE for any other object. */
int unsigned_bytes(PyObject *number, unsigned char *bytes, Py_ssize_t width) {
    if (!PyLong_CheckExact(number))
        return NOT_MINE;
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t needed = PyLong_AsNativeBytes(
        number, bytes, width, Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER |
        Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    if (needed < 0 || needed > width) {
        PyErr_Clear();
        return NOT_MINE;
    }
#else
    if (_PyLong_AsByteArray((PyLongObject *)number, bytes, (size_t)width, 0, 0) < 0) {
        PyErr_Clear();  /* negative, or too wide */
        return NOT_MINE;
    }
#endif
    return WRITTEN;
}

PyObject *out_result(Out *out, int status) {
    PyObject *result = NULL;
    if (status == WRITTEN)
        result = PyBytes_FromStringAndSize(out->data, out->size);
    else if (status == NOT_MINE)
        result = Py_NewRef(Py_None);
    if (out->data != out->inline_data)
        PyMem_Free(out->data);
    return result;
}

/* grow()'s rare case: the data moves to the heap, or to a larger block there. */
int move_to_heap(Out *out, Py_ssize_t needed) {
    Py_ssize_t capacity = needed > out->capacity * 2 ? needed : out->capacity * 2;
    char *data;
    if (out->data == out->inline_data) {
        data = PyMem_Malloc(capacity);
        if (data != NULL)
            memcpy(data, out->inline_data, out->size);
    } else {
        data = PyMem_Realloc(out->data, capacity);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    out->data = data;
    out->capacity = capacity;
    return WRITTEN;
}

/* Whether one of the 8 bytes of `word` is a control character, '"' or '\\': a byte below 0x20,
   or a byte equal to one of the two ("Bit Twiddling Hacks", hasless and haszero). Bytes from
   0x80 up, UTF-8's multibyte sequences, are never taken. */
static inline int needs_escape(uint64_t word) {
    const uint64_t ones = 0x0101010101010101ULL, high_bits = 0x8080808080808080ULL;
    uint64_t quotes = word ^ (ones * '"'), backslashes = word ^ (ones * '\\');
    return ((((word - ones * 0x20) & ~word) | ((quotes - ones) & ~quotes) |
             ((backslashes - ones) & ~backslashes)) & high_bits) != 0;
}

/* `text`'s UTF-8 bytes between JSON's quotes, escaped as orjson escapes them: \" \\ \b \t \n
   \f \r, \u00xx for the other control characters, every other byte as it is. Eight bytes are
   looked at in one go while none of them needs an escape; the rest one at a time. */
static int put_escaped(Out *out, const char *text, Py_ssize_t length) {
    static const char hex[] = "0123456789abcdef";
    TRY(grow(out, length));
    Py_ssize_t start = 0, i = 0;
    while (i < length) {
        for (uint64_t word; i + 8 <= length; i += 8) {
            memcpy(&word, text + i, 8);  /* one load */
            if (needs_escape(word))
                break;
        }
        /* The escape among the next 8 bytes, or the last few bytes. */
        Py_ssize_t stop = i + 8 < length ? i + 8 : length;
        while (i < stop && !escaped[(unsigned char)text[i]])
            i++;
        if (i == stop)
            continue;
        unsigned char c = (unsigned char)text[i];
        TRY(put(out, text + start, i - start));
        char escape[6] = {'\\', 0, 0, 0, 0, 0};
        Py_ssize_t escape_length = 2;
        switch (c) {
            case '"': escape[1] = '"'; break;
            case '\\': escape[1] = '\\'; break;
            case '\b': escape[1] = 'b'; break;
            case '\t': escape[1] = 't'; break;
            case '\n': escape[1] = 'n'; break;
            case '\f': escape[1] = 'f'; break;
            case '\r': escape[1] = 'r'; break;
            default:
                memcpy(escape + 1, "u00", 3);
                escape[4] = hex[c >> 4];
                escape[5] = hex[c & 0xf];
                escape_length = 6;
        }
        TRY(put(out, escape, escape_length));
        start = ++i;
    }
    return put(out, text + start, length - start);
}

/* An exact str's UTF-8 bytes, escaped (without quotes); NOT_MINE for any other object and for
   a str with a lone surrogate, which orjson refuses. */
int put_text(Out *out, PyObject *text) {
    if (!PyUnicode_CheckExact(text))
        return NOT_MINE;
    Py_ssize_t length;
    const char *bytes;
    if (PyUnicode_IS_COMPACT_ASCII(text)) {  /* the common case: its bytes are its UTF-8 */
        bytes = (const char *)PyUnicode_DATA(text);
        length = PyUnicode_GET_LENGTH(text);
    } else {
        bytes = PyUnicode_AsUTF8AndSize(text, &length);
    }
    if (bytes == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return FAILED;
        PyErr_Clear();
        return NOT_MINE;
    }
    return put_escaped(out, bytes, length);
}

int put_string(Out *out, PyObject *text) {
    TRY(PUT_LITERAL(out, "\""));
    TRY(put_text(out, text));
    return PUT_LITERAL(out, "\"");
}

/* An exact int's decimal, as str() and orjson write it, for one of 64 bits (signed or not);
   NOT_MINE for larger ones, which orjson refuses. */
int put_int(Out *out, PyObject *number) {
    char digits[24];
    char *end = digits + sizeof digits, *first = end;
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(number, &overflow);
    unsigned long long magnitude;
    if (overflow == 0) {
        if (value == -1 && PyErr_Occurred())
            return FAILED;
        magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    } else if (overflow > 0) {
        /* PyLong_AsUnsignedLongLong() takes a slow path for these; the mask does not. */
#if PY_VERSION_HEX >= 0x030D0000
        if (PyLong_AsNativeBytes(number, &magnitude, 8, Py_ASNATIVEBYTES_NATIVE_ENDIAN |
                                 Py_ASNATIVEBYTES_UNSIGNED_BUFFER) > 8)
            return NOT_MINE;
#else
        if (_PyLong_NumBits(number) > 64)
            return NOT_MINE;
        magnitude = PyLong_AsUnsignedLongLongMask(number);
#endif
    } else {
        return NOT_MINE;
    }
    for (; magnitude >= 100; magnitude /= 100) {  /* two digits a division */
        first -= 2;
        memcpy(first, DIGIT_PAIRS + 2 * (magnitude % 100), 2);
    }
    if (magnitude >= 10) {
        first -= 2;
        memcpy(first, DIGIT_PAIRS + 2 * magnitude, 2);
    } else {
        *--first = (char)('0' + magnitude);
    }
    if (overflow == 0 && value < 0)
        *--first = '-';
    return put(out, first, end - first);
}

/* A float as orjson writes it, by orjson: its shortest digits differ from repr()'s spelling in
   places (1e-05 is 0.00001 to orjson) and a value that is not finite is null. */
static int put_float(Out *out, PyObject *number) {
    double value = PyFloat_AS_DOUBLE(number);
    uint64_t bits;
    memcpy(&bits, &value, 8);
    unsigned slot = (unsigned)((bits * 0x9E3779B97F4A7C15ULL) >> 58);  /* 6 bits: 64 slots */
    if (floats[slot].length && floats[slot].bits == bits)
        return put(out, floats[slot].text, floats[slot].length);
    PyObject *json = PyObject_CallOneArg(orjson_dumps, number);
    if (json == NULL)
        return FAILED;
    Py_ssize_t length = PyBytes_GET_SIZE(json);
    if (length < (Py_ssize_t)sizeof floats[slot].text) {
        floats[slot].bits = bits;
        floats[slot].length = (unsigned char)length;
        memcpy(floats[slot].text, PyBytes_AS_STRING(json), length);
    }
    int status = put(out, PyBytes_AS_STRING(json), length);
    Py_DECREF(json);
    return status;
}

int put_value(Out *out, PyObject *value, int depth);

int put_items(Out *out, PyObject *sequence, int depth) {
    TRY(PUT_LITERAL(out, "["));
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); i++) {
        if (i)
            TRY(PUT_LITERAL(out, ","));
        TRY(put_value(out, PySequence_Fast_GET_ITEM(sequence, i), depth + 1));
    }
    return PUT_LITERAL(out, "]");
}

static int has_dot(PyObject *key) {
    if (PyUnicode_IS_COMPACT_ASCII(key))
        return memchr(PyUnicode_DATA(key), '.', PyUnicode_GET_LENGTH(key)) != NULL;
    return PyUnicode_FindChar(key, '.', 0, PyUnicode_GET_LENGTH(key), 1) != -1;
}

/* A dict with exact str keys; with refuse_dots, one with a "." in a key is NOT_MINE (the
   Python path rewrites metric keys: the intake refuses a "."). */
int put_dict(Out *out, PyObject *dict, int depth, int refuse_dots) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    int first = 1;
    TRY(PUT_LITERAL(out, "{"));
    while (PyDict_Next(dict, &position, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return NOT_MINE;
        if (refuse_dots && has_dot(key))
            return NOT_MINE;
        if (!first)
            TRY(PUT_LITERAL(out, ","));
        first = 0;
        TRY(put_string(out, key));
        TRY(PUT_LITERAL(out, ":"));
        TRY(put_value(out, value, depth + 1));
    }
    return PUT_LITERAL(out, "}");
}

int put_value(Out *out, PyObject *value, int depth) {
    if (depth > MAX_DEPTH)
        return NOT_MINE;
    if (PyUnicode_CheckExact(value))
        return put_string(out, value);
    if (value == Py_None)
        return PUT_LITERAL(out, "null");
    if (value == Py_True)
        return PUT_LITERAL(out, "true");
    if (value == Py_False)
        return PUT_LITERAL(out, "false");
    if (PyLong_CheckExact(value))
        return put_int(out, value);
    if (PyFloat_CheckExact(value))
        return put_float(out, value);
    if (PyDict_CheckExact(value))
        return put_dict(out, value, depth, 0);
    if (PyTuple_CheckExact(value) || PyList_CheckExact(value))
        return put_items(out, value, depth);
    return NOT_MINE;
}
