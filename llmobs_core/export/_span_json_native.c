/* The Datadog span event of a common span record, written in one pass: the C fast path of
   SpanJSON.encode() (_span_json.py), which stays the reference and the fallback
   (docs/accelerator.md, "The native event writer").

   event(record, static_tags) returns the event's JSON as bytes, byte for byte what SpanJSON
   writes for the record, or None for a record it does not cover, which SpanJSON then encodes
   itself: an error span, a sample rate below 1, tool definitions, a prompt, an agent
   attribution, documents, metadata that is not a flat dict of plain values, a metric key with
   a ".", or any value whose type is not exactly str, int, float, bool, None, dict, list or
   tuple (a subclass included), a key that is not exactly a str, an integer beyond 64 bits, a
   lone surrogate, nesting deeper than MAX_DEPTH. `static_tags` is the writer's static tags
   as JSON, each preceded by a comma. Only MemoryError is raised. It calls no Python function
   (orjson's dumps and the C API's conversions are C) and stops at the first exception, so
   nothing changes the record while it is read. */

#include "_json_out.h"

#define RECORD_LENGTH 19

/* The last trace id written, held, and its text: a trace's spans come one after another. */
static PyObject *last_trace_id;
static char last_trace_text[32];

/* 0 <= trace id < 2**128 as "%032x" writes it, into `text`; NOT_MINE for others. */
static int trace_hex(PyObject *trace_id, char text[32]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[16];
    if (trace_id == last_trace_id) {  /* the same int object: ints are immutable */
        memcpy(text, last_trace_text, 32);
        return WRITTEN;
    }
    TRY(unsigned_bytes(trace_id, bytes, 16));
    for (int i = 0; i < 16; i++) {
        text[2 * i] = hex[bytes[i] >> 4];
        text[2 * i + 1] = hex[bytes[i] & 0xf];
    }
    memcpy(last_trace_text, text, 32);
    Py_XSETREF(last_trace_id, Py_NewRef(trace_id));
    return WRITTEN;
}

static int is(PyObject *text, const char *literal) {
    return PyUnicode_CompareWithASCIIString(text, literal) == 0;
}

/* `value or "custom"`, for an exact str or None; lowered for the provider (ASCII only: any
   other provider takes the Python path's str.lower()). */
static int put_model_field(Out *out, PyObject *value, int lowered) {
    if (value == Py_None || (PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) == 0))
        return PUT_LITERAL(out, "\"custom\"");
    if (!PyUnicode_CheckExact(value) || (lowered && !PyUnicode_IS_ASCII(value)))
        return NOT_MINE;
    Py_ssize_t start = out->size;
    TRY(put_string(out, value));
    if (lowered) {
        /* Escapes hold only lowercase letters, digits, '\\' and '"': lowering them is a no-op. */
        for (Py_ssize_t i = start; i < out->size; i++) {
            char c = out->data[i];
            if (c >= 'A' && c <= 'Z')
                out->data[i] = (char)(c - 'A' + 'a');
        }
    }
    return WRITTEN;
}

/* An input or output: messages (an llm span's tuple from annotate()) or a text value. */
static int put_io(Out *out, const char *key, PyObject *value, int messages, int documents) {
    if (value == Py_None)
        return WRITTEN;
    TRY(put(out, key, (Py_ssize_t)strlen(key)));
    if (messages) {
        if (!PyTuple_CheckExact(value))
            return NOT_MINE;
        TRY(PUT_LITERAL(out, "{\"messages\":"));
        TRY(put_items(out, value, 3));
    } else {
        if (documents || !PyUnicode_CheckExact(value))
            return NOT_MINE;
        TRY(PUT_LITERAL(out, "{\"value\":"));
        TRY(put_string(out, value));
    }
    return PUT_LITERAL(out, "}");
}

/* A flat dict of exact str, int, float, bool and None values under exact str keys: what
   plain_metadata() passes through unchanged. */
static int is_flat_metadata(PyObject *metadata) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(metadata, &position, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return 0;
        if (!(PyUnicode_CheckExact(value) || PyLong_CheckExact(value) ||
              PyFloat_CheckExact(value) || PyBool_Check(value) || value == Py_None))
            return 0;
    }
    return 1;
}

/* The meta, event_meta()'s keys in its order, for a span without an error, rare fields or
   documents. */
static int put_meta(Out *out, PyObject *kind, PyObject *model_name, PyObject *model_provider,
                    PyObject *input, PyObject *output, PyObject *metadata) {
    if (!PyUnicode_CheckExact(kind))
        return NOT_MINE;
    int llm = is(kind, "llm"), embedding = is(kind, "embedding");
    TRY(PUT_LITERAL(out, "{\"span\":{\"kind\":"));
    TRY(put_string(out, kind));
    TRY(PUT_LITERAL(out, "}"));
    TRY(put_io(out, ",\"input\":", input, llm, embedding));
    TRY(put_io(out, ",\"output\":", output, llm, is(kind, "retrieval")));
    if (metadata != Py_None) {
        if (!PyDict_CheckExact(metadata) || !is_flat_metadata(metadata))
            return NOT_MINE;
        if (PyDict_GET_SIZE(metadata)) {
            TRY(PUT_LITERAL(out, ",\"metadata\":"));
            TRY(put_dict(out, metadata, 3, 0));
        }
    }
    if (llm || embedding) {
        TRY(PUT_LITERAL(out, ",\"model_name\":"));
        TRY(put_model_field(out, model_name, 0));
        TRY(PUT_LITERAL(out, ",\"model_provider\":"));
        TRY(put_model_field(out, model_provider, 1));
    }
    return PUT_LITERAL(out, "}");
}

/* One tag, `key:value` as an f-string writes it, for an exact str key and an exact str or
   int value. */
static int put_tag(Out *out, PyObject *key, PyObject *value) {
    TRY(PUT_LITERAL(out, ",\""));
    TRY(put_text(out, key));
    TRY(PUT_LITERAL(out, ":"));
    TRY(PyLong_CheckExact(value) ? put_int(out, value) : put_text(out, value));
    return PUT_LITERAL(out, "\"");
}

/* tag_head()'s tags, then the span's own: an adapter's tuple of keys and values in turn, or
   annotate()'s dict. */
static int put_tags(Out *out, PyObject *ml_app, PyObject *session_id, PyObject *static_tags,
                    PyObject *span_tags) {
    TRY(PUT_LITERAL(out, "[\"ml_app:"));
    TRY(put_text(out, ml_app));
    TRY(PUT_LITERAL(out, "\",\"agent_service:"));
    TRY(put_text(out, ml_app));
    TRY(PUT_LITERAL(out, "\""));
    TRY(put(out, PyBytes_AS_STRING(static_tags), PyBytes_GET_SIZE(static_tags)));
    if (session_id != Py_None) {
        TRY(PUT_LITERAL(out, ",\"session_id:"));
        TRY(put_text(out, session_id));
        TRY(PUT_LITERAL(out, "\""));
    }
    TRY(PUT_LITERAL(out, ",\"error:0\""));
    if (PyTuple_CheckExact(span_tags)) {
        Py_ssize_t length = PyTuple_GET_SIZE(span_tags);
        if (length % 2)
            return NOT_MINE;
        for (Py_ssize_t i = 0; i < length; i += 2)
            TRY(put_tag(out, PyTuple_GET_ITEM(span_tags, i), PyTuple_GET_ITEM(span_tags, i + 1)));
    } else if (PyDict_CheckExact(span_tags)) {
        Py_ssize_t position = 0;
        PyObject *key, *value;
        while (PyDict_Next(span_tags, &position, &key, &value))
            TRY(put_tag(out, key, value));
    } else if (span_tags != Py_None) {
        return NOT_MINE;
    }
    return PUT_LITERAL(out, "]");
}

/* A sample rate of exactly 1 (float or int), the only one written here as "1". */
static int is_full_rate(PyObject *rate) {
    if (PyFloat_CheckExact(rate))
        return PyFloat_AS_DOUBLE(rate) == 1.0;
    int overflow;
    return PyLong_CheckExact(rate) && PyLong_AsLongAndOverflow(rate, &overflow) == 1;
}

/* The event, in EventBuilder.event()'s key order. */
static int put_event(Out *out, PyObject *record, PyObject *static_tags) {
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != RECORD_LENGTH)
        return NOT_MINE;
    PyObject **field = &PyTuple_GET_ITEM(record, 0);
    PyObject *kind = field[0], *name = field[1], *trace_id = field[2], *span_id = field[3],
             *parent_id = field[4], *apm_trace_id = field[5], *ml_app = field[6],
             *session_id = field[7], *model_name = field[8], *model_provider = field[9],
             *start_ns = field[10], *duration_ns = field[11], *error = field[12],
             *input = field[13], *output = field[14], *metadata = field[15],
             *metrics = field[16], *span_tags = field[17], *rare = field[18];
    if (error != Py_None || !PyTuple_CheckExact(rare) || PyTuple_GET_SIZE(rare) != 4)
        return NOT_MINE;
    PyObject *tool_definitions = PyTuple_GET_ITEM(rare, 0), *sample_rate = PyTuple_GET_ITEM(rare, 1),
             *extras = PyTuple_GET_ITEM(rare, 2), *pagent = PyTuple_GET_ITEM(rare, 3);
    if (tool_definitions != Py_None || extras != Py_None || pagent != Py_None ||
        !is_full_rate(sample_rate))
        return NOT_MINE;
    if (!PyLong_CheckExact(span_id) || !PyLong_CheckExact(start_ns) ||
        !PyLong_CheckExact(duration_ns) || !(parent_id == Py_None || PyLong_CheckExact(parent_id)))
        return NOT_MINE;
    if (PyUnicode_CheckExact(session_id) && PyUnicode_GET_LENGTH(session_id) == 0)
        session_id = Py_None;  /* `if session_id:` */
    char trace_text[32], apm_trace_text[32];
    TRY(trace_hex(trace_id, trace_text));
    if (apm_trace_id == trace_id)
        memcpy(apm_trace_text, trace_text, 32);
    else
        TRY(trace_hex(apm_trace_id, apm_trace_text));
    TRY(PUT_LITERAL(out, "{\"trace_id\":\""));
    TRY(put(out, trace_text, 32));
    TRY(PUT_LITERAL(out, "\",\"span_id\":\""));
    TRY(put_int(out, span_id));
    TRY(PUT_LITERAL(out, "\",\"parent_id\":\""));
    TRY(parent_id == Py_None ? PUT_LITERAL(out, "undefined") : put_int(out, parent_id));
    TRY(PUT_LITERAL(out, "\",\"name\":"));
    TRY(put_string(out, name));
    TRY(PUT_LITERAL(out, ",\"start_ns\":"));
    TRY(put_int(out, start_ns));
    TRY(PUT_LITERAL(out, ",\"duration\":"));
    TRY(put_int(out, duration_ns));
    TRY(PUT_LITERAL(out, ",\"status\":\"ok\",\"meta\":"));
    TRY(put_meta(out, kind, model_name, model_provider, input, output, metadata));
    TRY(PUT_LITERAL(out, ",\"metrics\":"));
    if (metrics == Py_None)
        TRY(PUT_LITERAL(out, "{}"));
    else if (PyDict_CheckExact(metrics))
        TRY(put_dict(out, metrics, 2, 1));
    else
        return NOT_MINE;
    TRY(PUT_LITERAL(out, ",\"tags\":"));
    TRY(put_tags(out, ml_app, session_id, static_tags, span_tags));
    TRY(PUT_LITERAL(out, ",\"_dd\":{\"span_id\":\""));
    TRY(put_int(out, span_id));
    TRY(PUT_LITERAL(out, "\",\"trace_id\":\""));
    TRY(put(out, trace_text, 32));
    TRY(PUT_LITERAL(out, "\",\"apm_trace_id\":\""));
    TRY(put(out, apm_trace_text, 32));
    TRY(PUT_LITERAL(out, "\",\"sample_rate\":\"1\",\"sampling_decision\":\"1\"}"));
    if (session_id != Py_None) {
        TRY(PUT_LITERAL(out, ",\"session_id\":"));
        TRY(put_string(out, session_id));
    }
    return PUT_LITERAL(out, "}");
}

static PyObject *event(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "event(record, static_tags: bytes)");
        return NULL;
    }
    Out out;
    out_start(&out);
    return out_result(&out, put_event(&out, args[0], args[1]));
}

static PyMethodDef methods[] = {
    {"event", (PyCFunction)(void (*)(void))event, METH_FASTCALL,
     "event(record, static_tags) -> bytes | None: the Datadog span event of a common record, "
     "as SpanJSON.encode() writes it, or None for a record SpanJSON must encode itself."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_span_json_native",
    "The C fast path of SpanJSON.encode() (_span_json.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__span_json_native(void) {
    return json_out_ready() < 0 ? NULL : PyModule_Create(&module);
}
