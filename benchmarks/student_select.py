"""Selecting a student checkpoint: the quality figures (stylert.export.quality) of AdaIN
checkpoints in torch fp32 on two disjoint splits of held-out images, fed as
benchmarks/quality.py feeds the runtime (content at a 384-px longer side, style at a
512-px shorter side):

- test: benchmarks/quality.py's 16 pairs (contents china, flower, EveningGlow "boats",
  Dune; styles truchet-l, analogpattern, lava05, fluent-color). Report it; do not select on it.
- val: 15 other pairs, for choosing among checkpoints: contents chelsea (scikit-image, held
  out of every AdaIN recipe), mate's FreshFlower and YellowFlower; styles gnome's wood-l,
  mate's Ubuntu-Mate-Radioactive, colobot's mars004, green02, chili02. All of data_fetch's
  held-out tenth, never trained on.
- val_paintings: the same 3 contents with the 8 val paintings of stylert.export.quality's
  painting_split (24 pairs; its median, not its mean: a painting whose texture the content
  already nears gives a large negative figure that would swamp the mean).

    python benchmarks/student_select.py CKPT...          # adain.pt files or adain-student.train.pt states
    python benchmarks/student_select.py --peer           # the peer's figures (cached beside RUN or here)
    python benchmarks/student_select.py --watch RUN_DIR  # scores each new state of a running training,
                                                         # keeps snap-STEP.pt, appends to select.jsonl;
                                                         # stops when RUN_DIR/DONE appears
"""
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer.py
from stylert.export.quality import figures, fit, painting_split
from stylert.export.models import load
from stylert.export.models.adain import AdaINNet
from stylert.images import resize_short
from stylert.export import data_fetch
from stylert.export.data import photos

SIDE = 384
TEST_CONTENTS = {"EveningGlow": "boats", "nature/Dune": "dune"}
TEST_STYLES = {"truchet-l": "truchet", "analogpattern": "analog", "lava05": "lava", "fluent-color": "fluent"}
VAL_CONTENTS = {"FreshFlower": "freshflower", "YellowFlower": "yellowflower"}  # + skimage chelsea
VAL_STYLES = {"wood-l": "wood", "Radioactive": "radioactive", "mars004": "mars", "green02": "green",
              "chili02": "chili"}


def _find(part):
    return [i.path for i in data_fetch.cached() if i.held_out and part in i.path][0]


def pairs(split):
    from sklearn.datasets import load_sample_images
    if split == "test":
        contents = [(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), n) for img, n in zip(load_sample_images().images, ("china", "flower"))]
        contents += [(cv2.imread(_find(p)), n) for p, n in TEST_CONTENTS.items()]
        styles = [(_find(p), n) for p, n in TEST_STYLES.items()]
    else:
        contents = [(cv2.cvtColor(photos()["chelsea"], cv2.COLOR_RGB2BGR), "chelsea")]
        contents += [(cv2.imread(_find(p)), n) for p, n in VAL_CONTENTS.items()]
        styles = [(_find(p), n) for p, n in VAL_STYLES.items()]
        if split == "val_paintings":
            paintings = [i.path for i in data_fetch.cached() if i.role == "painting"]
            styles = [(p, Path(p).stem) for p in painting_split(paintings)[0]]
    return [(fit(c, SIDE), cn, s, sn) for c, cn in contents for s, sn in styles]


def net_from(path):
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if "parts" in obj:
        net = AdaINNet(obj["config"]["width"], upsample=obj["config"].get("upsample", "nearest"))
        net.load_state_dict(obj["parts"]["net"])
        return net.eval(), int(obj["step"])
    return load("adain", path), None


def to_t(bgr):
    return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255


def run_net(net, content, style_path):
    style = resize_short(cv2.cvtColor(cv2.imread(style_path), cv2.COLOR_BGR2RGB), 512)
    s = torch.from_numpy(style).permute(2, 0, 1)[None].float() / 255
    h, w = content.shape[:2]
    c = to_t(content)
    ph, pw = -(-h // 8) * 8 - h, -(-w // 8) * 8 - w
    if ph or pw:
        c = torch.nn.functional.pad(c, (0, pw, 0, ph), mode="reflect")
    with torch.no_grad():
        out = net.stylize(c, s).clamp(0, 1)[..., :h, :w]
    rgb = (out[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def score(fn, split):
    rows = []
    for content, cn, sp, sn in pairs(split):
        out = fn(content, sp)
        rows.append({"content": cn, "style": sn, **figures(content, out, cv2.imread(sp))})
    return rows


SPLITS = ("val", "val_paintings", "test")


def mean(rows, split="val"):
    f = np.median if split == "val_paintings" else np.mean
    return {k: float(f([r[k] for r in rows])) for k in ("colour_moved", "texture_moved", "structure_kept")}


def line(r):
    return " | ".join(f"{sp} {fmt(r[sp])}" for sp in SPLITS if sp in r)


def fmt(m):
    return f"colour {m['colour_moved']:.3f} texture {m['texture_moved']:.3f} structure {m['structure_kept']:.3f}"


def evaluate(net):
    return {sp: mean(score(lambda c, s: run_net(net, c, s), sp), sp) for sp in SPLITS}


def peer():
    cache = Path(os.environ.get("STYLERT_PEER_FIGURES", Path.home() / ".cache" / "stylert" / "peer-figures.json"))
    if cache.exists() and all(sp in json.loads(cache.read_text()) for sp in SPLITS):
        return json.loads(cache.read_text())
    from peer import peer_for
    res = {}
    for sp in SPLITS:
        fns = {}
        def fn(c, s):
            if s not in fns:
                fns[s] = peer_for(s)[0]
            return fns[s](c)
        res[sp] = mean(score(fn, sp), sp)
    cache.write_text(json.dumps(res, indent=1))
    return res


def watch(run):
    run = Path(run)
    state, log = run / "adain-student.train.pt", run / "select.jsonl"
    seen = set()
    if log.exists():
        seen = {json.loads(l)["step"] for l in log.read_text().splitlines()}
    while True:
        if state.exists():
            try:
                net, step = net_from(state)
            except Exception:  # (written atomically; a partial read is retried)
                time.sleep(5)
                continue
            if step not in seen:
                seen.add(step)
                torch.save(net.state_dict(), run / f"snap-{step}.pt")
                r = evaluate(net)
                r["step"] = step
                with open(log, "a") as f:
                    f.write(json.dumps(r) + "\n")
                print(step, line(r), flush=True)
        if (run / "DONE").exists():
            return
        time.sleep(20)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "--watch":
        watch(a[1])
    elif a and a[0] == "--peer":
        p = peer()
        print("peer", line(p))
    else:
        for path in a:
            net, _ = net_from(path)
            r = evaluate(net)
            print(path, line(r), flush=True)
