#!/usr/bin/python3
"""check_exports.py - reads gsimclrd's exports back with the tools people use them with, and
checks them against the daemon's own numbers. Run by tests/test_export.c (exports_read_back_
by_python) against a daemon whose runs have succeeded on Fashion-MNIST:

    /usr/bin/python3 tests/py/check_exports.py http://127.0.0.1:PORT RUN [RUN...]

For each run:
  * GET /v1/runs/{id}/model.onnx (and ?head=1): onnx.checker (full check, with shape
    inference) accepts it; one float32 input N x C x H x W with a symbolic N, one named output;
    opset 13 or later; the metadata states the input's scaling.
  * The graph is evaluated by an independent NumPy implementation of its operators (float64,
    written from the ONNX operator specs, strict about attributes), and by the PyTorch twin of
    tests/ref/torch_models.py loaded from the ONNX initialisers; both must equal the daemon's
    own embeddings of the same images (GET /v1/runs/{id}/embeddings, the features the linear
    probe read) within 1e-4 relative, on the test split and on training images. The daemon
    exports no projections, so for ?head=1 the reference is a second twin loaded from the
    run's simclr checkpoint itself (GSCK, downloaded), which the export never touched.
  * numpy.load reads every .npy export with the right shape, dtype and values: features
    N x D float32 with D the ONNX output's width; labels int64 equal to the IDX files' labels;
    pseudo-labels equal to the JSON and CSV forms of the same route.
Prints one line per check and last "N passed, N failed"; exits 1 when any failed, 77 (with
the reason) when Debian's python3-onnx, -numpy or -torch cannot be imported."""
import gzip
import io
import json
import os
import sys
import urllib.error
import urllib.request

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
except ImportError as e:  # pragma: no cover - exercised only on a machine without them
    print("skip: %s (scripts/install-deps installs python3-onnx, python3-numpy, "
          "python3-torch)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from torch_models import cnn3, resnet  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"
TOL = 1e-4
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)
    return ok


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def idx(name):
    """An IDX file of the Debian package as a numpy array (images N x H x W or labels N)."""
    with gzip.open(os.path.join(FMNIST, name)) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def rel_err(a, b):
    """The largest difference, relative to the reference's scale (its largest magnitude)."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


# ---- an independent evaluation of the ONNX graph, in float64 -------------------------------

def attrs(node, allowed):
    out = {}
    for a in node.attribute:
        if a.name not in allowed:
            raise ValueError("%s: attribute %s is not handled here" % (node.op_type, a.name))
        out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def op_conv(node, x, w, b=None):
    at = attrs(node, {"kernel_shape", "strides", "pads", "dilations", "group"})
    if at.get("group", 1) != 1 or any(d != 1 for d in at.get("dilations", [1, 1])):
        raise ValueError("Conv: groups and dilation are not handled here")
    kh, kw = w.shape[2:]
    if list(at.get("kernel_shape", [kh, kw])) != [kh, kw]:
        raise ValueError("Conv: kernel_shape disagrees with the weight")
    sh, sw = at.get("strides", [1, 1])
    pt, pl, pb, pr = at.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def op_bn(node, x, scale, bias, mean, var):
    at = attrs(node, {"epsilon", "momentum"})
    eps = at.get("epsilon", 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape)
            + bias.reshape(shape))


def op_maxpool(node, x):
    at = attrs(node, {"kernel_shape", "strides", "pads", "ceil_mode"})
    if any(at.get("pads", [0])) or at.get("ceil_mode", 0):
        raise ValueError("MaxPool: padding and ceil_mode are not handled here")
    kh, kw = at["kernel_shape"]
    sh, sw = at.get("strides", [1, 1])
    ho = (x.shape[2] - kh) // sh + 1
    wo = (x.shape[3] - kw) // sw + 1
    y = np.full((x.shape[0], x.shape[1], ho, wo), -np.inf)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw])
    return y


def op_gemm(node, a, b, c=None):
    at = attrs(node, {"alpha", "beta", "transA", "transB"})
    a = a.T if at.get("transA", 0) else a
    b = b.T if at.get("transB", 0) else b
    y = at.get("alpha", 1.0) * (a @ b)
    return y if c is None else y + at.get("beta", 1.0) * c


def op_flatten(node, x):
    axis = attrs(node, {"axis"}).get("axis", 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


OPS = {
    "Conv": op_conv,
    "BatchNormalization": op_bn,
    "Relu": lambda node, x: (attrs(node, set()), np.maximum(x, 0))[1],
    "MaxPool": op_maxpool,
    "GlobalAveragePool": lambda node, x: (attrs(node, set()), x.mean(axis=(2, 3), keepdims=True))[1],
    "Flatten": op_flatten,
    "Gemm": op_gemm,
    "Add": lambda node, a, b: (attrs(node, set()), a + b)[1],
}


def numpy_eval(model, x):
    g = model.graph
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    env[g.input[0].name] = x.astype(np.float64)
    for node in g.node:
        if node.op_type not in OPS:
            raise ValueError("operator %s is not handled here" % node.op_type)
        args = [env[n] for n in node.input if n]
        env[node.output[0]] = OPS[node.op_type](node, *args)
    return env[g.output[0].name]


# ---- the PyTorch twin, loaded from the initialisers ----------------------------------------

def twin_from_onnx(model, enc, in_c):
    """tests/ref/torch_models.py's network for the run's encoder config, its conv, batch-norm
    and linear modules filled in order from the initialisers grouped by layer (conv1.weight,
    bn1.running_var, fc2.bias, ...)."""
    if enc.get("widths"):
        raise ValueError("the twin takes a width doubled per stage, not a widths list")
    head = tuple(enc["head"])
    if enc["arch"] == "cnn3":
        net = cnn3(in_c, enc["width"], enc["stages"], head)
    else:
        net = resnet(in_c, enc["width"], enc["stages"], enc["blocks"], head)
    layers, seen = [], {}
    for t in model.graph.initializer:
        prefix, field = t.name.rsplit(".", 1)
        if prefix not in seen:
            seen[prefix] = {}
            layers.append(prefix)
        seen[prefix][field] = torch.from_numpy(numpy_helper.to_array(t).copy())
    modules = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d,
                                                            torch.nn.Linear))]
    if len(modules) != len(layers):
        raise ValueError("the twin has %d layers, the ONNX graph %d" % (len(modules), len(layers)))
    with torch.no_grad():
        for m, prefix in zip(modules, layers):
            p = seen[prefix]
            kind = {torch.nn.Conv2d: "conv", torch.nn.BatchNorm2d: "bn", torch.nn.Linear: "fc"}
            if not prefix.startswith(kind[type(m)]):
                raise ValueError("twin layer %s meets initialisers %s" % (type(m).__name__, prefix))
            m.weight.copy_(p["weight"])
            if m.bias is not None:
                m.bias.copy_(p["bias"])
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(p["running_mean"])
                m.running_var.copy_(p["running_var"])
    return net.double().eval()


def gsck_sections(blob):
    """The sections of a GSCK checkpoint (server/pipeline/checkpoint.c): magic, u32 version,
    u32 count, then {char name[32], u64 length, bytes}, then a CRC-32."""
    if blob[:4] != b"GSCK":
        raise ValueError("not a GSCK checkpoint")
    count = int.from_bytes(blob[8:12], "little")
    pos, out = 12, {}
    for _ in range(count):
        name = blob[pos:pos + 32].split(b"\0")[0].decode()
        n = int.from_bytes(blob[pos + 32:pos + 40], "little")
        out[name] = blob[pos + 40:pos + 40 + n]
        pos += 40 + n
    return out


def twin_from_checkpoint(base, rid, enc, in_c):
    """The twin with the newest simclr checkpoint's weights: net.params in the order of the C
    net's parameter spans, which is the twin's parameters() order (torch_models.py), and
    net.buffers as each batch-norm's running mean then running variance."""
    _, body = get(base, "/v1/runs/%d/checkpoints" % rid)
    ids = [c["id"] for c in json.loads(body)["checkpoints"] if c["stage"] == "simclr"]
    if not ids:
        raise ValueError("run %d has no simclr checkpoint" % rid)
    status, blob = get(base, "/v1/runs/%d/checkpoints/%d" % (rid, max(ids)))
    sec = gsck_sections(blob)
    params = np.frombuffer(sec["net.params"], "<f4")
    buffers = np.frombuffer(sec["net.buffers"], "<f4")
    head = tuple(enc["head"])
    if enc["arch"] == "cnn3":
        net = cnn3(in_c, enc["width"], enc["stages"], head)
    else:
        net = resnet(in_c, enc["width"], enc["stages"], enc["blocks"], head)
    pos = bpos = 0
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.from_numpy(params[pos:pos + p.numel()].copy()).view_as(p))
            pos += p.numel()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.from_numpy(buffers[bpos:bpos + c].copy()))
                m.running_var.copy_(torch.from_numpy(buffers[bpos + c:bpos + 2 * c].copy()))
                bpos += 2 * c
    if pos != len(params) or bpos != len(buffers):
        raise ValueError("the checkpoint holds %d parameters and %d buffers, the twin %d and %d"
                         % (len(params), len(buffers), pos, bpos))
    return net.double().eval()


# ---- one run ---------------------------------------------------------------------------------

def npy(base, path):
    status, body = get(base, path)
    if status != 200:
        raise ValueError("GET %s: HTTP %d %s" % (path, status, body[:200]))
    if not body.startswith(b"\x93NUMPY\x01\x00"):
        raise ValueError("GET %s: not an .npy 1.0 file" % path)
    hlen = int.from_bytes(body[8:10], "little")
    if (10 + hlen) % 64 != 0:
        raise ValueError("GET %s: the data does not start at a multiple of 64" % path)
    return np.load(io.BytesIO(body), allow_pickle=False)


def check_run(base, rid, images, labels_train, images_test, labels_test):
    status, body = get(base, "/v1/runs/%d" % rid)
    run = json.loads(body)
    cfg = run["config"]
    enc = cfg["simclr"]["encoder"]
    n_train = cfg["subset"] or len(labels_train)
    n_test = cfg["test_subset"] or len(labels_test)
    if cfg.get("subset_random"):
        raise ValueError("run %d: the check reads the first N images (no subset_random)" % rid)
    tag = "run %d (%s, %s)" % (rid, cfg["method"], enc["arch"])

    models = {}
    for head in (0, 1):
        status, body = get(base, "/v1/runs/%d/model.onnx%s" % (rid, "?head=1" if head else ""))
        if not check(status == 200, "%s: model.onnx%s answers 200 (got %d)"
                     % (tag, "?head=1" if head else "", status)):
            return
        m = onnx.load_model_from_string(body)
        try:
            onnx.checker.check_model(m, full_check=True)
            ok, why = True, ""
        except Exception as e:  # noqa: BLE001 - any checker complaint is the failure
            ok, why = False, str(e)[:300]
        check(ok, "%s head=%d: onnx.checker (full) accepts it %s" % (tag, head, why))
        models[head] = m
    m0, m1 = models[0], models[1]
    opset = max(o.version for o in m0.opset_import if o.domain in ("", "ai.onnx"))
    check(opset >= 13, "%s: opset %d >= 13" % (tag, opset))
    inp = m0.graph.input
    dims = [d.dim_param or d.dim_value for d in inp[0].type.tensor_type.shape.dim]
    check(len(inp) == 1 and inp[0].name == "input" and
          inp[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT and
          isinstance(dims[0], str) and dims[1:] == [1, 28, 28],
          "%s: one float32 input 'input' N x 1 x 28 x 28 with a symbolic N (%s)" % (tag, dims))
    out0, out1 = m0.graph.output, m1.graph.output
    check(len(out0) == 1 and out0[0].name == "features" and len(out1) == 1 and
          out1[0].name == "projection", "%s: outputs named features / projection" % tag)
    meta = {p.key: p.value for p in m0.metadata_props}
    check(meta.get("gsimclr.input_scale") == "1/255" and meta.get("gsimclr.input_mean") == "0"
          and meta.get("gsimclr.input_std") == "1" and meta.get("gsimclr.run") == str(rid),
          "%s: metadata states the input's scaling and the run" % tag)
    d = out0[0].type.tensor_type.shape.dim[1].dim_value
    z = out1[0].type.tensor_type.shape.dim[1].dim_value
    check(d == enc["width"] << (enc["stages"] - 1) and z == enc["head"][-1],
          "%s: output widths %d and %d follow the config" % (tag, d, z))

    # the daemon's embeddings and labels, as numpy reads them
    try:
        e_test = npy(base, "/v1/runs/%d/embeddings?split=test" % rid)
        e_train = npy(base, "/v1/runs/%d/embeddings?split=train" % rid)
        l_test = npy(base, "/v1/runs/%d/embeddings?split=test&labels=1" % rid)
        l_train = npy(base, "/v1/runs/%d/embeddings?split=train&labels=1" % rid)
    except ValueError as e:
        check(False, "%s: %s" % (tag, e))
        return
    check(e_test.dtype == np.float32 and e_test.shape == (n_test, d) and
          e_train.dtype == np.float32 and e_train.shape == (n_train, d),
          "%s: embeddings .npy are float32 %s and %s" % (tag, e_train.shape, e_test.shape))
    check(l_test.dtype == np.int64 and l_train.dtype == np.int64 and
          np.array_equal(l_test, labels_test[:n_test]) and
          np.array_equal(l_train, labels_train[:n_train]),
          "%s: label .npy files are int64 and equal the IDX labels" % tag)

    # the same images, evaluated three ways
    x_test = (images_test[:n_test, None].astype(np.float32) / 255).astype(np.float32)
    x_train = (images[:64, None].astype(np.float32) / 255).astype(np.float32)
    try:
        f_np = numpy_eval(m0, x_test)
        f_np_train = numpy_eval(m0, x_train)
        z_np = numpy_eval(m1, x_test)
        ok = True
    except (ValueError, KeyError) as e:
        ok = check(False, "%s: the NumPy evaluator ran the graph: %s" % (tag, e))
    if ok:
        r1, r2 = rel_err(f_np, e_test), rel_err(f_np_train, e_train[:64])
        check(r1 <= TOL and r2 <= TOL, "%s: NumPy evaluation of the ONNX graph = the daemon's "
              "embeddings (rel. error %.2g test, %.2g train; tol %g)" % (tag, r1, r2, TOL))
    try:
        twin = twin_from_onnx(m1, enc, 1)
        ref = twin_from_checkpoint(base, rid, enc, 1)
    except (ValueError, RuntimeError, KeyError) as e:
        check(False, "%s: the PyTorch twins load from the initialisers and the checkpoint: %s"
              % (tag, str(e)[:300]))
        return
    with torch.no_grad():
        xt = torch.from_numpy(x_test).double()
        f_t, z_t = twin[:-1](xt).numpy(), twin(xt).numpy()
        f_ref, z_ref = ref[:-1](xt).numpy(), ref(xt).numpy()
    r3, r4 = rel_err(f_t, e_test), rel_err(f_ref, e_test)
    check(r3 <= TOL and r4 <= TOL, "%s: PyTorch twin from the initialisers = the daemon's "
          "embeddings (rel. error %.2g; the twin from the checkpoint %.2g)" % (tag, r3, r4))
    r5 = rel_err(z_np, z_ref) if ok else float("inf")
    r6 = rel_err(z_t, z_ref)
    check(r5 <= TOL and r6 <= TOL, "%s: ?head=1: NumPy evaluation and the twin from the "
          "initialisers = the twin from the checkpoint (rel. error %.2g, %.2g)" % (tag, r5, r6))

    # pseudo-labels: npy against the JSON and CSV forms (gsimclr runs have them)
    if cfg["method"] == "gsimclr":
        p = npy(base, "/v1/runs/%d/pseudo-labels?format=npy" % rid)
        _, js = get(base, "/v1/runs/%d/pseudo-labels?format=json" % rid)
        _, csv = get(base, "/v1/runs/%d/pseudo-labels?format=csv" % rid)
        rows = [line.split(",") for line in csv.decode().strip().split("\n")[1:]]
        check(p.dtype == np.int64 and p.shape == (n_train,) and
              p.tolist() == json.loads(js)["clusters"] and
              p.tolist() == [int(c) for _, c in rows] and
              [int(i) for i, _ in rows] == list(range(n_train)),
              "%s: pseudo-labels .npy (int64, %s) = the JSON and CSV forms" % (tag, p.shape))


def main():
    if len(sys.argv) < 3:
        print("usage: check_exports.py BASE_URL RUN [RUN...]")
        return 2
    torch.set_num_threads(1)
    base = sys.argv[1].rstrip("/")
    images, labels = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
    images_t, labels_t = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    for rid in sys.argv[2:]:
        try:
            check_run(base, int(rid), images, labels.astype(np.int64), images_t,
                      labels_t.astype(np.int64))
        except (ValueError, KeyError, OSError) as e:
            check(False, "run %s: %s" % (rid, e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
