# cython: language_level=3
"""Reading any buffer the way ``memoryview(data).tobytes()`` orders its bytes.

bytes are read in place; other contiguous buffers through the buffer
protocol (release the view afterwards); non-contiguous ones are copied first.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE

from fastseg import errors


cdef object acquire(object data, Py_buffer* view, Bytes* out):
    """Point ``out`` at the bytes of ``data``; return the object that keeps them alive.

    Pair every call with ``release(view, out)``.
    """
    out.held = False
    if not PyBytes_CheckExact(data):
        if not PyObject_CheckBuffer(data):
            raise errors.not_a_buffer(data)
        try:
            PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
        except Exception:  # not contiguous (BufferError, or numpy's ValueError), or worse:
            data = memoryview(data).tobytes()  # the reference twin's path, and its errors
        else:
            out.data = <const unsigned char*>view.buf
            out.size = view.len
            out.held = True
            return data
    out.data = <const unsigned char*>PyBytes_AS_STRING(data)
    out.size = PyBytes_GET_SIZE(data)
    return data


cdef void release(Py_buffer* view, Bytes* raw) noexcept:
    """Release the view ``acquire`` took, if it took one."""
    if raw.held:
        raw.held = False
        PyBuffer_Release(view)
