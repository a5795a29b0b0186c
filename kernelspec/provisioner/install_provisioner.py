"""Installs wasipy_provisioner into a site-packages folder, with the
distribution metadata that registers it under jupyter_client's entry point
group `jupyter_client.kernel_provisioners` as `wasipy-provisioner`.

Usage: python3 install_provisioner.py SITE_PACKAGES_DIR

Written by hand rather than with pip: Debian's Pythons refuse pip installs
outside a virtual environment, and the provisioner is one file.
"""

import hashlib
import base64
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from wasipy_provisioner import __version__  # noqa: E402

NAME = "wasipy_provisioner"
ENTRY_POINT = "wasipy-provisioner"


def record_line(root, rel):
    with open(os.path.join(root, rel), "rb") as f:
        data = f.read()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (rel, digest, len(data))


def install(dest):
    os.makedirs(dest, exist_ok=True)
    # Remove other versions' metadata, so one entry point stays.
    for entry in os.listdir(dest):
        if entry.startswith(NAME + "-") and entry.endswith(".dist-info"):
            shutil.rmtree(os.path.join(dest, entry))
    shutil.copyfile(os.path.join(HERE, NAME + ".py"), os.path.join(dest, NAME + ".py"))
    info = "%s-%s.dist-info" % (NAME, __version__)
    os.makedirs(os.path.join(dest, info))
    files = {
        "METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: jupyter_client provisioner that lets wasipy-kernel bind its own ports\nRequires-Dist: jupyter_client\nRequires-Dist: pycryptodomex\n"
        % (NAME, __version__),
        "entry_points.txt": "[jupyter_client.kernel_provisioners]\n%s = %s:WasipyProvisioner\n" % (ENTRY_POINT, NAME),
        "top_level.txt": NAME + "\n",
        "INSTALLER": "wasipy install.sh\n",
    }
    for name, text in files.items():
        with open(os.path.join(dest, info, name), "w") as f:
            f.write(text)
    rels = [NAME + ".py"] + [os.path.join(info, n) for n in files]
    with open(os.path.join(dest, info, "RECORD"), "w") as f:
        for rel in rels:
            f.write(record_line(dest, rel) + "\n")
        f.write(os.path.join(info, "RECORD") + ",,\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    install(sys.argv[1])
