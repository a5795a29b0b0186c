"""Comms: message channels between the frontend and code in the kernel.

The same API as the `comm` package that ipywidgets 8 and other libraries
use (create_comm, get_comm_manager, Comm.send/on_msg/on_close/close,
CommManager.register_target), implemented over wasipy's host channel:
messages to the frontend leave as iopub comm_open / comm_msg / comm_close
(binary buffers included), and the frontend's messages arrive through the
kernel as requests that the CommManager routes here.
"""

import uuid

import _wasipy_protocol as proto

__version__ = "0.1.4"

__all__ = ["BaseComm", "Comm", "CommManager", "create_comm", "get_comm_manager"]


def _shell():
    import _wasipy_exec
    return _wasipy_exec.current_shell()


class BaseComm:
    """One comm. primary=True: opened by the kernel (sends comm_open)."""

    def __init__(self, target_name="comm", data=None, metadata=None, buffers=None,
                 comm_id=None, primary=True, target_module=None, topic=None,
                 _open_data=None, _close_data=None, **kwargs):
        self.comm_id = comm_id if comm_id else uuid.uuid4().hex
        self.target_name = target_name
        self.target_module = target_module
        self.primary = primary
        self.topic = topic
        self.kernel = kernel  # ipykernel's Comm has one; ipywidgets checks it
        self._open_data = _open_data or {}
        self._close_data = _close_data or {}
        self._msg_callback = None
        self._close_callback = None
        self._closed = True
        if self.primary:
            self.open(data=data, metadata=metadata, buffers=buffers)
        else:
            self._closed = False

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        content = dict(keys, data={} if data is None else data, comm_id=self.comm_id)
        _shell().send(msg_type, content, buffers=buffers, metadata=metadata)

    def __del__(self):
        try:
            self.close(deleting=True)
        except Exception:
            pass

    def open(self, data=None, metadata=None, buffers=None):
        manager = get_comm_manager()
        manager.register_comm(self)
        try:
            self.publish_msg(proto.COMM_OPEN, data=self._open_data if data is None else data,
                             metadata=metadata, buffers=buffers,
                             target_name=self.target_name, target_module=self.target_module)
            self._closed = False
        except Exception:
            manager.unregister_comm(self)
            raise

    def close(self, data=None, metadata=None, buffers=None, deleting=False):
        if self._closed:
            return
        self._closed = True
        if not deleting:
            self.publish_msg(proto.COMM_CLOSE, data=self._close_data if data is None else data,
                             metadata=metadata, buffers=buffers)
        get_comm_manager().unregister_comm(self)

    def send(self, data=None, metadata=None, buffers=None):
        self.publish_msg(proto.COMM_MSG, data=data, metadata=metadata, buffers=buffers)

    def on_close(self, callback):
        self._close_callback = callback

    def on_msg(self, callback):
        self._msg_callback = callback

    def handle_close(self, msg):
        if self._close_callback:
            self._close_callback(msg)

    def handle_msg(self, msg):
        if self._msg_callback:
            self._msg_callback(msg)


class Comm(BaseComm):
    pass


class CommManager:
    """Keeps the comm targets and the open comms, and routes the frontend's
    comm messages to them."""

    def __init__(self, **kwargs):
        self.comms = {}
        self.targets = {}

    def register_target(self, target_name, f):
        if isinstance(f, str):
            module, _, name = f.rpartition(".")
            f = getattr(__import__(module, fromlist=[name]), name)
        self.targets[target_name] = f

    def unregister_target(self, target_name, f=None):
        return self.targets.pop(target_name, None)

    def register_comm(self, comm):
        self.comms[comm.comm_id] = comm
        return comm.comm_id

    def unregister_comm(self, comm):
        self.comms.pop(comm.comm_id, None)

    def get_comm(self, comm_id):
        return self.comms.get(comm_id)

    # The frontend's messages. `msg` is a Jupyter message as a dict:
    # header, content, metadata, buffers.

    def comm_open(self, stream, ident, msg):
        content = msg["content"]
        comm_id, target_name = content["comm_id"], content["target_name"]
        f = self.targets.get(target_name)
        comm = Comm(comm_id=comm_id, primary=False, target_name=target_name)
        self.register_comm(comm)
        if f is None:
            # As ipykernel: refuse with a comm_close, print nothing.
            comm.close()
            return False
        try:
            f(comm, msg)
        except Exception:
            comm.close()
            raise

    def comm_msg(self, stream, ident, msg):
        comm = self.get_comm(msg["content"]["comm_id"])
        if comm is None:
            raise KeyError(f"no comm {msg['content']['comm_id']!r}")
        comm.handle_msg(msg)

    def comm_close(self, stream, ident, msg):
        comm = self.get_comm(msg["content"]["comm_id"])
        if comm is None:
            return
        self.unregister_comm(comm)
        comm._closed = True
        comm.handle_close(msg)


_manager = None


def get_comm_manager():
    global _manager
    if _manager is None:
        _manager = CommManager()
    return _manager


def create_comm(*args, **kwargs):
    return Comm(*args, **kwargs)


class _Kernel:
    """What libraries reach for as `get_ipython().kernel` (ipywidgets 6/7)."""

    @property
    def comm_manager(self):
        return get_comm_manager()

    @property
    def session(self):
        return None


kernel = _Kernel()


def comm_info(request):
    """Serve comm_info: the comms this CommManager holds, the one record of
    Python's comms (the kernel keeps none of its own for them), optionally
    only those of one target."""
    target = request.get("target_name") or ""
    comms = {}
    for comm_id, c in list(get_comm_manager().comms.items()):
        name = str(getattr(c, "target_name", "") or "")
        if not target or name == target:
            comms[str(comm_id)] = {"target_name": name}
    return {"comms": comms}


def handle_request(kind, request):
    """Serve a comm_open / comm_msg / comm_close the kernel forwarded."""
    msg = {
        "header": request.get("header") or {"msg_type": kind},
        "parent_header": {},
        "metadata": request.get("metadata") or {},
        "content": request.get("content") or {},
        "buffers": [memoryview(b) for b in request.get("buffers", [])],
    }
    if getattr(get_comm_manager(), kind)(None, None, msg) is False:
        return {"status": "error", "ename": "KeyError", "evalue": "no such comm target", "traceback": []}
    return {"status": "ok"}
