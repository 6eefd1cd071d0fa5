"""Pipelines through ONNX Runtime against the PyTorch modules, backend selection, image
I/O and the bad inputs."""

import math
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stylert import AutoEncoder, Generator, Stylizer, cli, parity  # noqa: E402
from stylert.backends import BackendError, choose  # noqa: E402
from stylert.errors import UsageError  # noqa: E402
from stylert.export.data import digits, photos  # noqa: E402
from stylert.export.models import load  # noqa: E402
from stylert.images import ImageError, read_image, to_hwc8, to_nchw  # noqa: E402
from stylert.package import PackageError  # noqa: E402
from stylert.pipelines.colour import coral  # noqa: E402
from helpers import AUTO, no_gpu


def close(want, got):
    """fp32 agreement as 8-bit pictures: the graphs take and give uint8 frames, so a float
    reference rounded to 8 bits may differ by one level where it lies near a half."""
    as8 = lambda x: np.clip(np.rint(np.asarray(x, np.float64) * 255), 0, 255).astype(np.uint8)  # noqa: E731
    return parity.passes(parity.compare(as8(want), as8(got)), "fp32")


@pytest.fixture(scope="module")
def net():
    return load("adain")


@pytest.fixture(scope="module")
def imgs():
    ph = photos()
    return {k: cv2.resize(ph[k], (96, 64), interpolation=cv2.INTER_AREA) for k in ("chelsea", "coffee", "hubble_deep_field")}


def t(img):
    return torch.from_numpy(to_nchw(img))


# ------------------------------------------------------------------------- Stylizer

def test_stylizer_matches_pytorch(packages, net, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", style_size=None)
    st.set_style(imgs["coffee"])
    content = to_nchw(imgs["chelsea"])
    with torch.no_grad():
        want = net(torch.from_numpy(content), *net.style_stats(t(imgs["coffee"])), 0.6).numpy()
    assert close(want, st(content, alpha=0.6))
    # uint8 in, uint8 out: the same image, rounded
    assert np.array_equal(st(imgs["chelsea"], alpha=0.6), to_hwc8(st(content, alpha=0.6)[0]))


def test_style_interpolation_matches_mixing_adain_outputs(packages, net, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", style_size=None)
    st.set_style([imgs["coffee"], imgs["hubble_deep_field"]], weights=[0.3, 0.9])
    with torch.no_grad():
        feat = net.encoder(t(imgs["chelsea"]))
        mixed = sum(w * net.adain(feat, *net.style_stats(t(imgs[s])))
                    for w, s in [(0.25, "coffee"), (0.75, "hubble_deep_field")])
        want = net.decoder(mixed).numpy()
    assert close(want, st(to_nchw(imgs["chelsea"])))


def _torch_coral(source, target):
    """The reference implementation's coral(), transcribed to torch for this test."""
    def flat(x):
        f = x.reshape(3, -1).double()
        mean, std = f.mean(1, keepdim=True), f.std(1, keepdim=True)
        return (f - mean) / std, mean, std

    def sqrtm(m):
        u, s, v = torch.svd(m)
        return u @ torch.diag(s.sqrt()) @ v.t()

    s_norm, _, _ = flat(source)
    t_norm, t_mean, t_std = flat(target)
    moved = sqrtm(t_norm @ t_norm.t() + torch.eye(3, dtype=torch.float64)) @ torch.inverse(
        sqrtm(s_norm @ s_norm.t() + torch.eye(3, dtype=torch.float64))) @ s_norm
    return (moved * t_std + t_mean).reshape(source.shape).float()


def test_colour_preservation_matches_the_reference(packages, net, imgs):
    style, content = to_nchw(imgs["coffee"]), to_nchw(imgs["chelsea"])
    assert np.allclose(coral(style[0], content[0]), _torch_coral(torch.from_numpy(style[0]), torch.from_numpy(content[0])).numpy(), atol=1e-5)
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", style_size=None)
    st.set_style(imgs["coffee"])
    with torch.no_grad():
        recoloured = _torch_coral(torch.from_numpy(style[0]), torch.from_numpy(content[0]))[None]
        want = net(torch.from_numpy(content), *net.style_stats(recoloured)).numpy()
    got = st(content, preserve_color=True)
    # coral in float64 numpy vs torch, and the recoloured style rounded to 8 bits for the graph
    assert parity.compare(want, got)["psnr"] > 45
    assert not close(st(content), got)


def test_luma_colour_keeps_the_contents_chroma_without_re_encoding(packages, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    st.set_style(imgs["coffee"])
    content = imgs["chelsea"]
    plain, luma = st(content), st(content, preserve_color="luma")
    ycc = [cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2YCrCb).astype(np.float32)
           for x in (content, plain, luma)]
    chroma = lambda a, b: float(np.abs(a[..., 1:] - b[..., 1:]).mean())  # noqa: E731
    assert chroma(ycc[2], ycc[0]) < 1.5 < chroma(ycc[1], ycc[0])  # the content's colours
    assert np.abs(ycc[2][..., 0] - ycc[1][..., 0]).mean() < 2.0   # the stylized luma
    with pytest.raises(ValueError, match="preserve_color must be"):
        st(content, preserve_color="hue")


def test_stylize_a_style_folder_runs_each_style(packages, imgs, tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("coffee", "hubble_deep_field"):
        cv2.imwrite(str(styles / f"{name}.png"), imgs[name][..., ::-1])
    cv2.imwrite(str(tmp_path / "cat.png"), imgs["chelsea"][..., ::-1])
    assert cli.main(["stylize", str(tmp_path / "cat.png"), "--style", str(styles), "-o", str(tmp_path / "out"),
                     "--package", str(packages["adain"].path)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cat_coffee.png", "cat_hubble_deep_field.png"]


def test_mask_gives_each_region_its_style(packages, net, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", style_size=None)
    st.set_style(imgs["coffee"], background=imgs["hubble_deep_field"])
    mask = np.zeros((64, 96), np.uint8)
    mask[:, :48] = 255  # left half: features columns 0..5
    with torch.no_grad():
        feat = net.encoder(t(imgs["chelsea"]))
        out = feat.clone()
        for cols, style in [(slice(0, 6), "coffee"), (slice(6, 12), "hubble_deep_field")]:
            out[..., cols] = net.adain(feat[..., cols], *net.style_stats(t(imgs[style])))
        want = net.decoder(out).numpy()
    assert close(want, st(to_nchw(imgs["chelsea"]), mask=mask))


@pytest.fixture(scope="module")
def format1_adain(tmp_path_factory):
    """An AdaIN package as stylert wrote them before frame I/O (format 1): float NCHW RGB
    graphs named image, no io.frame; made by today's exporter with the old graphs."""
    from stylert import package as pkgmod
    from stylert.export import package as export_pkg
    from stylert.export.graphs import Graph
    from stylert.export.models import adain as model

    frame_graphs = model.graphs

    def old_graphs(net):
        enc, dec = frame_graphs(net)
        content = (torch.from_numpy(enc.sample[0]).flip(3).permute(0, 3, 1, 2).float() / 255).numpy()
        return [Graph("encoder", net.encoder, {"image": ("batch", 3, "height", "width")}, "features", [content],
                      [], enc.dim_min),
                Graph("decoder", net.decoder, dec.inputs, "image", dec.sample, [], dec.dim_min)]

    io = model.io_rules(load("adain"))
    io.pop("frame")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pkgmod, "FORMAT_VERSION", 1)
        mp.setattr(model, "graphs", old_graphs)
        mp.setattr(model, "io_rules", lambda net: dict(io, image="NCHW float32 RGB in [0, 1]"))
        out = tmp_path_factory.mktemp("format1") / "adain"
        export_pkg.export("adain", out, precisions=["fp32"], torch_weights=False, progress=False)
    return pkgmod.load(out)


def test_format1_packages_still_load_and_stylize_alike(format1_adain, packages, imgs):
    assert format1_adain.meta["format_version"] == 1 and "frame" not in format1_adain.meta["io"]
    assert format1_adain.graphs["encoder"]["inputs"][0]["dtype"] == "float32"
    old = Stylizer(format1_adain, backend="onnxruntime-cpu")  # its self-check passes: the chain as it was
    new = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    for st in (old, new):
        st.set_style(imgs["coffee"])
    frame = imgs["chelsea"]
    for kwargs in ({}, {"preserve_color": "luma"}, {"bgr": True}):
        a, b = old(frame, **kwargs), new(frame, **kwargs)
        assert a.dtype == b.dtype == np.uint8 and np.abs(a.astype(int) - b).max() <= 1, kwargs
    x = to_nchw(frame)  # float frames run unrounded through the float graphs of format 1
    assert old(x).dtype == np.float32 and close(old(x), new(x))


def test_any_size_and_batches(packages, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    st.set_style(imgs["coffee"])
    for h, w in [(37, 50), (3, 5), (1, 1), (64, 96)]:
        frame = np.ascontiguousarray(imgs["chelsea"][:h, :w])
        assert st(frame).shape == (h, w, 3)
    batch = np.stack([imgs["chelsea"], imgs["coffee"]])
    out = st(batch, alpha=0.5)
    assert out.shape == batch.shape
    assert np.abs(out[0].astype(int) - st(imgs["chelsea"], alpha=0.5).astype(int)).max() <= 1
    bgr = st(imgs["chelsea"][..., ::-1].copy(), bgr=True)
    assert np.array_equal(bgr[..., ::-1], st(imgs["chelsea"]))


def test_style_cache_encodes_once(packages, imgs, tmp_path):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), imgs["coffee"][..., ::-1])
    calls = []
    run = st.engines["encoder"].run
    st.engines["encoder"].run = lambda feeds: calls.append(1) or run(feeds)
    st.set_style(path)
    st.set_style([path, path], weights=[1, 1])
    assert len(calls) == 1


# ------------------------------------------------------------------------ Generator

def test_generator_matches_pytorch(packages):
    g = load("stylegan")
    gen = Generator(packages["stylegan"], backend="onnxruntime-cpu")
    z = gen.z([0, 7])
    assert np.array_equal(z[1], np.random.RandomState(7).randn(g.style_dim).astype(np.float32))
    noise = gen.noise(2, "random", 3)
    with torch.no_grad():
        w = g.truncate(g.mapping(torch.from_numpy(z)), 0.7)
        want = g.synthesis(g.broadcast(w), [torch.from_numpy(n) for n in noise]).numpy() * 0.5 + 0.5
    ws = gen.broadcast(gen.truncate(gen.mapping(z), 0.7))
    assert close(np.clip(want, 0, 1), gen.synthesis(ws, noise=noise))
    imgs = gen([0, 7], truncation=0.7)
    assert imgs.shape == (2, 32, 32, 3) and imgs.dtype == np.uint8
    assert np.array_equal(gen([7], truncation=0.7)[0], imgs[1])  # batching does not change an image


def test_truncation_mixing_and_noise(packages):
    gen = Generator(packages["stylegan"], backend="onnxruntime-cpu")
    avg = gen([1, 2, 3], truncation=0.0)
    assert np.array_equal(avg[0], avg[1]) and np.array_equal(avg[1], avg[2])
    w = gen.mapping(gen.z([4, 5]))
    own = gen.mix(w[:1], w[:1], layers=[0, 1])
    assert np.array_equal(gen.synthesis(own), gen.synthesis(gen.broadcast(w[:1])))
    mixed = gen.mix(w[:1], w[1:], layers=[0, 1])
    assert not np.array_equal(gen.synthesis(mixed), gen.synthesis(gen.broadcast(w[:1])))
    assert all(n.shape == (2, *s) for n, s in zip(gen.noise(2, "const"), gen.noise_shapes))
    assert not np.any(gen.noise(2, "none")[0])
    with pytest.raises(ValueError, match="finite"):
        gen([0], truncation=math.nan)
    with pytest.raises(ValueError, match="layers must be in"):
        gen.mix(w[:1], w[1:], layers=[gen.num_ws])
    with pytest.raises(ValueError, match="noise mode"):
        gen([0], noise_mode="loud")
    with pytest.raises(ValueError, match="seeds"):
        gen([-1])


# ---------------------------------------------------------------------- AutoEncoder

def test_autoencoder_matches_pytorch(packages):
    ae = load("ae")
    pipe = AutoEncoder(packages["ae"], backend="onnxruntime-cpu")
    x = digits()[2][:16]
    with torch.no_grad():
        z = ae.encode(torch.from_numpy(x)).numpy()
        rec = ae(torch.from_numpy(x)).numpy().reshape(16, 8, 8)
    assert close(z, pipe.encode(x.reshape(16, 8, 8)))
    assert close(rec, pipe.reconstruct(x))
    line = pipe.interpolate(x[0], x[1], steps=5)
    assert line.shape == (5, 8, 8) and close(pipe.reconstruct(x[:1])[0], line[0])
    assert pipe.grid(np.array([-1, -1]), np.array([1, 1]), 4).shape == (4, 4, 8, 8)


# ------------------------------------------------------------------ backend choice

@no_gpu
def test_fallback_chain_lands_on_the_cpu_quietly(packages, capfd):
    chosen, line = choose("auto")
    assert chosen == "onnxruntime-cpu"  # this machine: no TensorRT, no GPU
    assert "skipped tensorrt:" in line and "onnxruntime-cuda:" in line
    capfd.readouterr()
    Stylizer(packages["adain"])
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no provider noise
    for backend in ("tensorrt", "onnxruntime-cuda"):
        with pytest.raises(BackendError, match=f"backend {backend} is not available here"):
            Stylizer(packages["adain"], backend=backend)
    with pytest.raises(BackendError, match="unknown backend"):
        Generator(packages["stylegan"], backend="cuda")


def test_choosing_a_backend_does_not_import_torch():
    # torch is installed here; importing it would cost every run ~1 s and ~190 MB
    code = ("import sys; from stylert import Stylizer; st = Stylizer(); "
            "print(st.backend, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == [AUTO, "False"], done.stderr


def test_torch_backend_runs_the_package_weights(packages, imgs):
    a = Stylizer(packages["adain"], backend="torch")
    b = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    for st in (a, b):
        st.set_style(imgs["coffee"])
    assert a.backend == "torch" and a.choice.precision == "fp32" and a.choice.device == "cpu"
    assert close(a(to_nchw(imgs["chelsea"])), b(to_nchw(imgs["chelsea"])))


def test_int8_variant_is_used_when_asked(packages, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", precision="int8")
    assert st.choice.precision == "int8" and str(st.choice).startswith("backend: onnxruntime-cpu, int8")
    # ONNX Runtime's CPU provider runs the CPU-tuned int8 files
    assert all(e.path.endswith(".int8-cpu.onnx") for e in st.engines.values())
    st.set_style(imgs["coffee"])
    ref = Stylizer(packages["adain"], backend="onnxruntime-cpu")
    ref.set_style(imgs["coffee"])
    psnr = parity.compare(ref(to_nchw(imgs["chelsea"])), st(to_nchw(imgs["chelsea"])))["psnr"]
    assert 20 < psnr < 80


# ------------------------------------------------------------------------ bad input

def _exif_rotated_jpeg(img, orientation=6):
    """A JPEG whose EXIF says 'rotate 90 degrees clockwise to display' (a phone photo)."""
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    exif = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
    return jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpg[2:]


def test_image_files_of_every_kind(tmp_path, imgs):
    rgb = imgs["chelsea"]
    cases = {
        "grey.png": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
        "rgba.png": np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)]),
        "deep.png": rgb[..., ::-1].astype(np.uint16) * 257,
    }
    for name, arr in cases.items():
        cv2.imwrite(str(tmp_path / name), arr)
        img = read_image(tmp_path / name)
        assert img.shape == (64, 96, 3) and img.dtype == np.uint8, name
    assert np.array_equal(read_image(tmp_path / "deep.png"), rgb)
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)
    (tmp_path / "phone.jpg").write_bytes(_exif_rotated_jpeg(rgb[..., ::-1]))
    assert read_image(tmp_path / "phone.jpg").shape == (96, 64, 3)  # turned upright
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    for name, msg in [("empty.png", "is empty"), ("corrupt.png", "not a readable image"), ("none.png", "not found")]:
        with pytest.raises(ImageError, match=msg):
            read_image(tmp_path / name)
    with pytest.raises(ImageError, match="above the limit"):
        read_image(tmp_path / "grey.png", max_pixels=1000)


def test_bad_pipeline_arguments(packages, imgs):
    st = Stylizer(packages["adain"], backend="onnxruntime-cpu", max_pixels=10_000)
    with pytest.raises(ValueError, match="no style set"):
        st(imgs["chelsea"])
    with pytest.raises(ValueError, match="2 styles but 1 weights"):
        st.set_style([imgs["coffee"], imgs["chelsea"]], weights=[1.0])
    for w in ([-1.0], [math.nan], [0.0]):
        with pytest.raises(ValueError, match="weights must be"):
            st.set_style([imgs["coffee"]], weights=w)
    st.set_style(imgs["coffee"])
    for alpha in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="alpha"):
            st(imgs["chelsea"], alpha=alpha)
    with pytest.raises(ValueError, match="background style"):
        st(imgs["chelsea"], mask=np.ones((64, 96), np.uint8))
    with pytest.raises(ImageError, match="above the limit"):
        st(np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(ImageError, match="uint8 HxWx3"):
        st(np.zeros((64, 96), np.uint8))
    for cls, kind in [(Stylizer, "stylegan"), (Generator, "ae"), (AutoEncoder, "adain")]:
        with pytest.raises(PackageError, match="package; the"):
            cls(packages[kind])


def test_stylize_cli_batch_reports_failures(packages, imgs, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(src / f"{name}.png"), imgs["chelsea"][..., ::-1])
    (src / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    cv2.imwrite(str(tmp_path / "style.png"), imgs["coffee"][..., ::-1])
    argv = ["stylize", str(src), "--style", str(tmp_path / "style.png"), "-o", str(tmp_path / "out"),
            "--package", str(packages["adain"].path), "--alpha", "0.8"]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "wrote 2 of 3 images" in captured.out
    assert "broken.jpg is not a readable image" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert cv2.imread(str(tmp_path / "out" / "a.png")).shape == (64, 96, 3)
    with pytest.raises(SystemExit):
        cli.main(argv[:-1] + ["nan"])
    assert "expected a number in [0, 1]" in capsys.readouterr().err
    assert cli.main(argv[:-2] + ["--style", str(tmp_path / "nostyle.png")]) == 2
    assert "image not found" in capsys.readouterr().err
    assert cli.main(argv + ["--mask", str(tmp_path / "style.png")]) == 2
    assert "--mask needs --style-bg" in capsys.readouterr().err


def test_colour_preservation_of_flat_images_is_defined():
    # before: "SVD did not converge" (a flat channel divided by a zero std)
    from stylert.pipelines.colour import coral

    rng = np.random.default_rng(0)
    textured, flat = rng.random((3, 8, 8), dtype=np.float32), np.full((3, 8, 8), 0.3, np.float32)
    assert np.allclose(coral(textured, flat), 0.3, atol=1e-5)  # takes the flat content's colour
    out = coral(flat, textured)
    assert np.isfinite(out).all() and np.allclose(out, textured.reshape(3, -1).mean(1)[:, None, None], atol=1e-5)
    assert np.isfinite(coral(textured[:, :1, :1], textured)).all()  # one pixel


def test_autoencoder_latents_of_the_wrong_width_are_refused(packages):
    # before: 3 latents of width 4 were reshaped into 6 latents of width 2, six images
    ae = AutoEncoder(packages["ae"])
    with pytest.raises(UsageError, match=r"latents must be \(N, 2\), got shape \(3, 4\)"):
        ae.decode(np.zeros((3, 4), np.float32))
    with pytest.raises(UsageError, match="NaN"):
        ae.decode(np.full((1, 2), np.nan, np.float32))
    assert ae.decode(np.zeros(2, np.float32)).shape == (1, 8, 8)


def test_a_latent_grid_has_a_limit(packages):
    with pytest.raises(UsageError, match="a grid side of 100000 is above the limit of 256"):
        AutoEncoder(packages["ae"]).grid(np.array([-1, -1]), np.array([1, 1]), 100000)


def test_guided_upsampling_keeps_the_frames_edges_and_the_styles_colours():
    # A frame with a sharp vertical edge; its "stylization" at a quarter of the size is a flat
    # tint of each side: guided up-sampling puts the edge back where the frame has it.
    import cv2

    from stylert.export.quality import edges
    from stylert.pipelines import upsample

    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, 81:] = 200
    small = cv2.resize(frame, (40, 30), interpolation=cv2.INTER_AREA)
    out = np.where(small > 100, np.uint8(180), np.uint8(40)).astype(np.uint8)
    out[..., 0] //= 2  # a tint: the style's colours
    plain = cv2.resize(out, (160, 120), interpolation=cv2.INTER_LINEAR)
    sharp = upsample.guided(out, small, frame)
    assert sharp.shape == frame.shape and sharp.dtype == np.uint8
    corr = lambda x: np.corrcoef(edges(frame), edges(x))[0, 1]  # noqa: E731
    assert corr(sharp) > corr(plain) + 0.1
    assert np.abs(cv2.blur(sharp, (15, 15)).astype(int) - cv2.blur(plain, (15, 15))).mean() < 6  # colours kept
