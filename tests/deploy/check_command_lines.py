#!/usr/bin/python3
"""Runs every tributary-server command line of deploy/ through the real binary's option parser.

Sources: the ExecStart= of deploy/systemd/*.service (with their Environment= defaults, the values of
deploy/systemd/tributary.env, and each "#NAME=value" alternative in that file), the server and
worker services of deploy/compose.yaml (with the ENTRYPOINT and CMD of deploy/Containerfile), and the
tributary-server containers of deploy/kubernetes/*.yaml (with $(VAR) taken from their env, the
ConfigMaps of the same folder, or a placeholder for a Secret).

Each command line is run with its --data-dir replaced by a path under /proc (which cannot be created)
and its --database-url by a socket folder that does not exist, so that the process stops right
after parsing its options. A command line passes when the binary did not refuse its options (CLI11
ends such a message with "Run with --help for more information.") and got as far as its own log
(spdlog's timestamped lines start only after a successful parse). Also: every YAML file parses, and
no --key-file lies inside the --data-dir.

Usage: check_command_lines.py DEPLOY_DIR SERVER_BINARY
"""
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

DATA_DIR = "/proc/tributary-deploy-check/data"
DATABASE_URL = "postgresql:///tributary?host=/proc/tributary-deploy-check&connect_timeout=2"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} ", re.MULTILINE)
SERVER = "/usr/local/bin/tributary-server"


class Failure(Exception):
    pass


def systemd_assignments(value):
    """Environment= value -> {name: value} (systemd splits at spaces, honouring quotes)."""
    result = {}
    for word in shlex.split(value):
        name, sep, text = word.partition("=")
        if not sep:
            raise Failure(f"Environment= word without '=': {word}")
        result[name] = text
    return result


def env_file(path):
    """(assignments, alternatives): NAME=value lines and "#NAME=value" lines."""
    assignments, alternatives = {}, []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        match = re.match(r"^(#?)([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if not match:
            continue
        value = match.group(3)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if match.group(1):
            alternatives.append((match.group(2), value))
        else:
            assignments[match.group(2)] = value
    return assignments, alternatives


def expand_exec(command, env):
    """An ExecStart= line -> argv, with %S, %%, $NAME (split into words) and ${NAME} expanded."""
    command = command.replace("%%", "\0").replace("%S", "/var/lib").replace("\0", "%")
    if "%" in command:
        raise Failure(f"unhandled specifier in {command}")
    argv = []
    for word in shlex.split(command):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            name = whole.group(1)
            if name not in env:
                raise Failure(f"${name} is not set by the unit or its environment file")
            argv.extend(env[name].split())
            continue

        def braced(match):
            if match.group(1) not in env:
                raise Failure(f"${{{match.group(1)}}} is not set by the unit or its environment file")
            return env[match.group(1)]

        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", braced, word))
    return argv


def systemd_command_lines(deploy):
    folder = os.path.join(deploy, "systemd")
    assignments, alternatives = env_file(os.path.join(folder, "tributary.env"))
    lines = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".service"):
            continue
        defaults, exec_start, environment_files = {}, None, []
        section = None
        for line in open(os.path.join(folder, name), encoding="utf-8"):
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.startswith("Environment="):
                defaults.update(systemd_assignments(line[len("Environment="):]))
            elif section == "[Service]" and line.startswith("EnvironmentFile="):
                environment_files.append(line[len("EnvironmentFile="):].lstrip("-"))
            elif section == "[Service]" and line.startswith("ExecStart="):
                exec_start = line[len("ExecStart="):]
        if exec_start is None:
            raise Failure(f"{name}: no ExecStart=")
        if environment_files != ["/etc/tributary/tributary.env"]:
            raise Failure(f"{name}: expected EnvironmentFile=-/etc/tributary/tributary.env")
        base = dict(defaults, **assignments)
        used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", exec_start))
        lines.append((f"{name} (tributary.env)", expand_exec(exec_start, base)))
        for variable, value in alternatives:
            if variable in used:
                env = dict(base, **{variable: value})
                lines.append((f"{name} with {variable}={value}", expand_exec(exec_start, env)))
    return lines


def containerfile_entrypoint(deploy):
    entrypoint = cmd = None
    for line in open(os.path.join(deploy, "Containerfile"), encoding="utf-8"):
        if line.startswith("ENTRYPOINT "):
            entrypoint = json.loads(line[len("ENTRYPOINT "):])
        elif line.startswith("CMD "):
            cmd = json.loads(line[len("CMD "):])
    if entrypoint != [SERVER]:
        raise Failure(f"Containerfile: ENTRYPOINT is {entrypoint}, not [\"{SERVER}\"]")
    return entrypoint, cmd


def compose_command_lines(deploy):
    entrypoint, cmd = containerfile_entrypoint(deploy)
    lines = [("Containerfile CMD", entrypoint + cmd)]
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml"), encoding="utf-8"))
    found = 0
    for name, service in compose["services"].items():
        if not str(service.get("image", "")).startswith("tributary:"):
            continue
        if "entrypoint" in service:
            raise Failure(f"compose.yaml {name}: the image's entrypoint is expected")
        command = service.get("command", cmd)
        if not isinstance(command, list):
            raise Failure(f"compose.yaml {name}: command must be a list")
        lines.append((f"compose.yaml service {name}", entrypoint + [str(a) for a in command]))
        found += 1
    if found == 0:
        raise Failure("compose.yaml: no service runs the tributary image")
    return lines


def kubernetes_command_lines(deploy):
    folder = os.path.join(deploy, "kubernetes")
    documents = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".yaml"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                documents += [(name, d) for d in yaml.safe_load_all(f) if d]
    config_maps = {d["metadata"]["name"]: d.get("data", {})
                   for _, d in documents if d.get("kind") == "ConfigMap"}
    lines = []
    for file, document in documents:
        if document.get("kind") != "Deployment":
            continue
        spec = document["spec"]["template"]["spec"]
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            command = container.get("command", [])
            if not command or not command[0].endswith("tributary-server"):
                continue
            env = {}
            for variable in container.get("env", []):
                if "value" in variable:
                    env[variable["name"]] = str(variable["value"])
                elif "configMapKeyRef" in variable.get("valueFrom", {}):
                    ref = variable["valueFrom"]["configMapKeyRef"]
                    if ref["key"] not in config_maps.get(ref["name"], {}):
                        raise Failure(f"{file}: ConfigMap {ref['name']} has no key {ref['key']}")
                    env[variable["name"]] = str(config_maps[ref["name"]][ref["key"]])
                elif "secretKeyRef" in variable.get("valueFrom", {}):
                    ref = variable["valueFrom"]["secretKeyRef"]
                    env[variable["name"]] = f"secret-{ref['name']}-{ref['key']}"

            def reference(match):
                if match.group(1) not in env:
                    raise Failure(f"{file}: $({match.group(1)}) is not in the container's env")
                return env[match.group(1)]

            argv = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", reference, str(a))
                    for a in command + container.get("args", [])]
            lines.append((f"{file} {document['metadata']['name']}/{container['name']}", argv))
    if not lines:
        raise Failure("kubernetes: no container runs tributary-server")
    return lines


def option_value(argv, option):
    for i, word in enumerate(argv):
        if word == option and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(option + "="):
            return word[len(option) + 1:]
    return None


def substituted(argv):
    out, i = [], 0
    replacements = {"--data-dir": DATA_DIR, "--database-url": DATABASE_URL}
    while i < len(argv):
        word = argv[i]
        name = word.split("=", 1)[0]
        if name in replacements and "=" in word:
            out.append(f"{name}={replacements[name]}")
        elif word in replacements and i + 1 < len(argv):
            out += [word, replacements[word]]
            i += 1
        else:
            out.append(word)
        i += 1
    return out


def check(label, argv, binary):
    if argv[0] != SERVER:
        raise Failure(f"{label}: runs {argv[0]}, not {SERVER}")
    data_dir, key_file = option_value(argv, "--data-dir"), option_value(argv, "--key-file")
    if data_dir and key_file and os.path.normpath(key_file).startswith(
            os.path.normpath(data_dir) + os.sep):
        raise Failure(f"{label}: --key-file {key_file} lies inside --data-dir {data_dir}")
    run = [binary] + substituted(argv[1:])
    try:
        done = subprocess.run(run, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        raise Failure(f"{label}: still running after 60 s: {shlex.join(run)}")
    output = done.stdout + done.stderr
    if "Run with --help for more information" in output or not LOG_LINE.search(output):
        raise Failure(f"{label}: tributary-server refused the options (exit {done.returncode}):\n"
                      f"  {shlex.join(argv)}\n{output}")
    first = LOG_LINE.search(output)
    print(f"ok  {label}: {shlex.join(argv[1:])}\n    -> {output[first.start():].splitlines()[0]}")


def main():
    deploy, binary = sys.argv[1], sys.argv[2]
    failures = 0
    lines = []
    for source in (systemd_command_lines, compose_command_lines, kubernetes_command_lines):
        try:
            lines += source(deploy)
        except (Failure, OSError, yaml.YAMLError, KeyError, ValueError) as error:
            print(f"FAIL {source.__name__}: {error}", file=sys.stderr)
            failures += 1
    for label, argv in lines:
        try:
            check(label, argv, binary)
        except Failure as error:
            print(f"FAIL {error}", file=sys.stderr)
            failures += 1
    print(f"{len(lines)} command lines, {failures} failures")
    return 1 if failures or not lines else 0


if __name__ == "__main__":
    sys.exit(main())
