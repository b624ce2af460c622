# Sourced by scripts/test and scripts/demo: installs the system packages the build needs when
# they are missing. clang builds the BPF objects, libbpf-sys builds libbpf against libelf and
# zlib (found with pkg-config), <asm/types.h> comes from linux-libc-dev, and the layout test
# compiles bpf/include/abi.h with gcc. The end-to-end tests also use python3, setpriv and
# unshare (util-linux), mount, hostname, stat and mkfifo, and dash (the shell the tests copy
# as a renamed binary); the fuzz smoke run builds libFuzzer with g++; the network tests use ip
# (iproute2), dig (dnsutils), curl and getent (libc-bin): listed too, so a slimmer image cannot
# hide a gap. python3-venv: the Kubernetes schema validator below installs into a venv.
packages=(clang libelf-dev zlib1g-dev pkg-config make gcc g++ linux-libc-dev python3 util-linux mount hostname coreutils dash iproute2 dnsutils curl libc-bin python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The Kubernetes schema validator of the deploy tests (loader/tests/deploy.rs), a pinned
# PyPI package carrying the API's JSON schemas, in a venv of its own: installed once, then
# only checked. A venv left half made by an interrupted install is made again.
kubernetes_validate=target/tools/kubernetes-validate-1.37.0
if ! "$kubernetes_validate/bin/kubernetes-validate" --version >/dev/null 2>&1; then
    echo "installing: kubernetes-validate (deploy/validate-requirements.txt) in $kubernetes_validate"
    rm -rf "$kubernetes_validate"
    python3 -m venv "$kubernetes_validate"
    "$kubernetes_validate/bin/pip" install -q --disable-pip-version-check --no-deps -r deploy/validate-requirements.txt
fi
