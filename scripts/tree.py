#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel tree plumbing for gpumirror, driven by the path table scripts/paths.

  tree.py prepare          unpack the pristine tree once, create the build tree
  tree.py overlay          make the build tree = pristine + project (idempotent)
  tree.py patches DIR      write a git format-patch series against pristine
  tree.py verify-patches DIR
                           git am the series onto the pristine versions of the
                           files it touches and compare with the build tree
  tree.py map PATH...      print the upstream path of project paths
  tree.py rediff DIFF [FILE...]
                           write DIFF again from the build tree: the files
                           it patches (and FILEs, upstream paths it should
                           patch too) against their pristine versions
  tree.py diffed           print the upstream files the diffs patch
  tree.py added-lines      print PATH:LINE for every line the diffs add or
                           change, in the patched files' final numbering
  tree.py suites           print "N patch suite..." per patch of the series:
                           the KUnit suites each patch adds
  tree.py where            print the pristine and build tree paths

The pristine tree is Debian's linux-source-6.12, unpacked under build/src, or
the tree named by $GPUMIRROR_KSRC. It is never written to. The build tree
(build/linux, or $GPUMIRROR_TREE) is a copy of it that only this script edits:
files are rewritten only when their content changes, so incremental kernel
builds stay incremental.
"""

import difflib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, 'build')
TARBALL = '/usr/src/linux-source-6.12.tar.xz'
MANIFEST = '.gpumirror-overlay'
BASESTAMP = '.gpumirror-base'


def die(msg):
    sys.stderr.write('tree.py: %s\n' % msg)
    sys.exit(1)


def load_table():
    maps, hooks, diffs, stages = [], [], [], []
    with open(os.path.join(TOP, 'scripts', 'paths')) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            w = shlex.split(line)
            if w[0] == 'map' and len(w) == 4:
                maps.append((w[1], w[2], w[3]))
            elif w[0] == 'hook' and len(w) in (4, 6):
                where = w[4] if len(w) == 6 else None
                if where not in (None, 'after', 'before'):
                    die('paths:%d: expected "after|before <anchor>"' % lineno)
                hooks.append((w[1], w[2], unescape(w[3]), where,
                              unescape(w[5]) if where else None))
            elif w[0] == 'diff' and len(w) == 3:
                diffs.append((w[1], w[2]))
            elif w[0] == 'stage' and len(w) in (4, 5):
                stages.append((w[1], w[2], unescape(w[3]),
                               unescape(w[4]) if len(w) == 5 else None))
            else:
                die('paths:%d: cannot parse' % lineno)
    # longest project prefix first
    maps.sort(key=lambda m: -len(m[0]))
    STAGES[:] = stages
    return maps, hooks, diffs


# The table's stage entries: (upstream file, patch, first line, last line).
STAGES = []


def unstage(path, text, present):
    """@text of the project file @path without the lines that later
    patches of the series add (stage entries whose patch is not in
    @present), for the series' earlier patches."""
    lines = text.decode().split('\n')
    for f, patch, first, last in STAGES:
        if f != path or patch in present:
            continue
        if lines.count(first) != 1:
            die('stage %s: %r found %d times, not once' %
                (f, first, lines.count(first)))
        i = lines.index(first)
        j = i
        if last is not None:
            try:
                j = lines.index(last, i)
            except ValueError:
                die('stage %s: no %r after %r' % (f, last, first))
        del lines[i:j + 1]
        # no blank line left doubled where the block was
        if 0 < i < len(lines) and lines[i - 1] == '' and lines[i] == '':
            del lines[i]
    return '\n'.join(lines).encode()


def diff_files(diff):
    """The upstream files a unified diff (a/ b/ prefixes) patches."""
    files = []
    with open(os.path.join(TOP, diff)) as f:
        for line in f:
            if line.startswith('+++ '):
                path = line[4:].split('\t')[0].strip()
                if path != '/dev/null':
                    files.append(path[2:])
    return files


def apply_diff(diff, base):
    """Map upstream path -> content of the files @diff patches, applied
    onto @base (path -> content, the earlier diffs' results) or pristine."""
    pristine = pristine_dir()
    out = {}
    with tempfile.TemporaryDirectory() as work:
        for f in diff_files(diff):
            if f in base:
                write_if_changed(os.path.join(work, f), base[f])
            elif os.path.isfile(os.path.join(pristine, f)):
                write_if_changed(os.path.join(work, f),
                                 read(os.path.join(pristine, f)))
        with open(os.path.join(TOP, diff), 'rb') as d:
            r = subprocess.run(['patch', '-p1', '-s', '-F0', '-N', '-r', '-',
                                '--no-backup-if-mismatch', '-d', work],
                               stdin=d, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        if r.returncode:
            die('%s does not apply:\n%s' % (diff, r.stdout.decode()))
        for f in diff_files(diff):
            out[f] = read(os.path.join(work, f))
    return out


def apply_diffs(diffs, upto=None, patches=None):
    """The diffs of the table in order: those before @upto only, and of
    the @patches only if given."""
    want = {}
    for d, patch in diffs:
        if d == upto:
            break
        if patches is None or patch in patches:
            want.update(apply_diff(d, want))
    return want


def rediff(diff, extra):
    """Write @diff again from the build tree, against pristine."""
    pristine, tree = pristine_dir(), build_dir()
    base = apply_diffs(load_table()[2], upto=diff)
    chunks = []
    with tempfile.TemporaryDirectory() as work:
        for f in sorted(set(diff_files(diff)) | set(extra)):
            old = os.path.join(pristine, f)
            if f in base:
                old = os.path.join(work, f)
                write_if_changed(old, base[f])
            r = subprocess.run(['diff', '-uN', '--label', 'a/' + f,
                                '--label', 'b/' + f,
                                old if os.path.isfile(old) else '/dev/null',
                                os.path.join(tree, f)],
                               stdout=subprocess.PIPE)
            if r.returncode > 1:
                die('diff failed on %s' % f)
            text = r.stdout.decode()
            if not os.path.isfile(old):
                text = text.replace('--- a/' + f, '--- /dev/null', 1)
            chunks.append(text)
    with open(os.path.join(TOP, diff), 'w') as out:
        out.write(''.join(chunks))
    print('  REDIFF  %s: %d file(s)' % (diff, len(chunks)))


def map_path(maps, path):
    for src, dst, patch in maps:
        if src.endswith('/') and path.startswith(src):
            return dst + path[len(src):], patch
        if path == src:
            return dst, patch
    return None, None


def project_files():
    out = subprocess.run(['git', 'ls-files', '--cached', '--others',
                          '--exclude-standard', '-z'], cwd=TOP, check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    return sorted(p for p in out.split('\0')
                  if p and os.path.isfile(os.path.join(TOP, p)))


def pristine_dir():
    ksrc = os.environ.get('GPUMIRROR_KSRC')
    if ksrc:
        return os.path.abspath(ksrc)
    return os.path.join(BUILD, 'src', 'linux-source-6.12')


def build_dir():
    return os.path.abspath(os.environ.get('GPUMIRROR_TREE',
                                          os.path.join(BUILD, 'linux')))


def prepare():
    pristine = pristine_dir()
    if not os.path.isfile(os.path.join(pristine, 'Makefile')):
        if os.environ.get('GPUMIRROR_KSRC'):
            die('GPUMIRROR_KSRC=%s is not a kernel tree' % pristine)
        if not os.path.isfile(TARBALL):
            die('%s missing: run scripts/deps.sh' % TARBALL)
        parent = os.path.dirname(pristine)
        tmp = os.path.join(parent, '.unpack')
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        print('  UNPACK  %s' % TARBALL, flush=True)
        subprocess.run(['tar', '-xf', TARBALL, '-C', tmp], check=True)
        os.rename(os.path.join(tmp, 'linux-source-6.12'), pristine)
        os.rmdir(tmp)
    tree = build_dir()
    stamp = os.path.join(tree, BASESTAMP)
    if os.path.isfile(stamp) and open(stamp).read().strip() == pristine:
        return
    if os.path.exists(tree):
        shutil.rmtree(tree)
    print('  COPY    %s -> %s' % (pristine, tree), flush=True)
    subprocess.run(['cp', '-a', '--reflink=auto', pristine, tree], check=True)
    with open(stamp, 'w') as f:
        f.write(pristine + '\n')


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def unescape(text):
    """A hook's text: \\t is a tab, \\n starts another line."""
    return text.replace('\\t', '\t').replace('\\n', '\n')


def has_block(lines, block):
    n = len(block)
    return any(lines[i:i + n] == block for i in range(len(lines) - n + 1))


def apply_hooks(text, hooks):
    lines = text.decode().split('\n')
    for _, _, line, where, anchor in hooks:
        block = line.split('\n')
        if has_block(lines, block):
            continue
        if where is None:
            at = len(lines) - 1 if lines and lines[-1] == '' else len(lines)
        else:
            if lines.count(anchor) != 1:
                die('hook anchor %r found %d times, not once' %
                    (anchor, lines.count(anchor)))
            at = lines.index(anchor) + (where == 'after')
        lines[at:at] = block
    return '\n'.join(lines).encode()


def desired_files(patches=None):
    """Map upstream path -> content, for the project and its hooks."""
    maps, hooks, diffs = load_table()
    pristine = pristine_dir()
    want = apply_diffs(diffs, patches=patches)
    present = {patch for _, patch in diffs
               if patches is None or patch in patches}
    for p in project_files():
        dst, patch = map_path(maps, p)
        if dst and (patches is None or patch in patches):
            want[dst] = read(os.path.join(TOP, p))
            present.add(patch)
    if patches is not None:
        for dst in {s[0] for s in STAGES} & set(want):
            want[dst] = unstage(dst, want[dst], patches)
    # a hook only goes in with the files it wires up
    by_file = {}
    for h in hooks:
        if h[1] in present:
            by_file.setdefault(h[0], []).append(h)
    for f, hs in by_file.items():
        if f in want:
            die('%s is both patched by a diff and hooked' % f)
        want[f] = apply_hooks(read(os.path.join(pristine, f)), hs)
    return want


def added_lines():
    """PATH:LINE of each line the diffs add or change (final numbering)."""
    pristine = pristine_dir()
    for f, data in sorted(apply_diffs(load_table()[2]).items()):
        new = data.decode().split('\n')
        src = os.path.join(pristine, f)
        old = read(src).decode().split('\n') if os.path.isfile(src) else []
        ops = difflib.SequenceMatcher(None, old, new,
                                      autojunk=False).get_opcodes()
        for tag, _, _, j1, j2 in ops:
            if tag in ('replace', 'insert'):
                for j in range(j1, j2):
                    print('%s:%d' % (f, j + 1))


def upstream_files(hooks, diffs):
    """Upstream files the series changes that exist in pristine."""
    files = [h[0] for h in hooks]
    for d, _ in diffs:
        files += diff_files(d)
    return files


def write_if_changed(path, data):
    if os.path.isfile(path) and read(path) == data:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.gpumirror-tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    return True


def overlay():
    prepare()
    tree, pristine = build_dir(), pristine_dir()
    want = desired_files()
    man = os.path.join(tree, MANIFEST)
    old = set(open(man).read().split()) if os.path.isfile(man) else set()
    for stale in sorted(old - set(want)):
        src = os.path.join(pristine, stale)
        if os.path.isfile(src):
            write_if_changed(os.path.join(tree, stale), read(src))
        elif os.path.isfile(os.path.join(tree, stale)):
            os.unlink(os.path.join(tree, stale))
        print('  RESTORE %s' % stale)
    n = 0
    for path, data in sorted(want.items()):
        if write_if_changed(os.path.join(tree, path), data):
            n += 1
    with open(man, 'w') as f:
        f.write('\n'.join(sorted(want)) + '\n')
    print('  OVERLAY %d file(s) updated in %s' % (n, tree))


def load_series(suites=False):
    """scripts/series: '[patch]' sections, first line subject, rest body;
    a '@suites' line names the KUnit suites the patch adds. With @suites,
    (name, suites) pairs instead of (name, message)."""
    series, cur = [], None
    with open(os.path.join(TOP, 'scripts', 'series')) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('#'):
                continue
            if line.startswith('[') and line.endswith(']'):
                cur = [line[1:-1], [], []]
                series.append(cur)
            elif cur is not None and line.startswith('@suites'):
                cur[2] += line.split()[1:]
            elif cur is not None:
                cur[1].append(line)
    if suites:
        return [(name, ks) for name, _, ks in series]
    return [(name, '\n'.join(body).strip() + '\n')
            for name, body, _ in series]


def git(cwd, *args, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME='gpumirror developers',
               GIT_AUTHOR_EMAIL='gpumirror@localhost',
               GIT_COMMITTER_NAME='gpumirror developers',
               GIT_COMMITTER_EMAIL='gpumirror@localhost',
               GIT_AUTHOR_DATE='2026-01-01T00:00:00Z',
               GIT_COMMITTER_DATE='2026-01-01T00:00:00Z')
    return subprocess.run(['git', '-c', 'init.defaultBranch=master',
                           '-c', 'commit.gpgsign=false'] + list(args),
                          cwd=cwd, check=True, env=env,
                          stdout=subprocess.PIPE, **kw).stdout.decode()


def base_repo(work, files):
    """A repository holding the pristine versions of @files only."""
    pristine = pristine_dir()
    git(work, 'init', '-q')
    for f in files:
        src = os.path.join(pristine, f)
        if os.path.isfile(src):
            write_if_changed(os.path.join(work, f), read(src))
    git(work, 'add', '-A')
    git(work, 'commit', '-q', '--allow-empty', '-m', 'pristine')


def patches(outdir):
    prepare()
    series = load_series()
    names = [n for n, _ in series]
    maps, hooks, diffs = load_table()
    used = {m[2] for m in maps} | {h[1] for h in hooks} | \
        {d[1] for d in diffs}
    for u in used - set(names):
        if desired_files({u}):
            die('patch %r has files but no entry in scripts/series' % u)
    owner = {}
    for p in project_files():
        dst, patch = map_path(maps, p)
        if dst:
            owner[dst] = patch
    for f, patch, _, _ in STAGES:
        if patch not in names:
            die('stage entry for %s names patch %r, not in scripts/series'
                % (f, patch))
        if f not in owner:
            die('stage entry for %s: no project file maps there' % f)
        if names.index(patch) <= names.index(owner[f]):
            die('stage entry for %s: patch %r does not come after %r, '
                'the file\'s own' % (f, patch, owner[f]))
    outdir = os.path.abspath(outdir)
    shutil.rmtree(outdir, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=BUILD) as work:
        base_repo(work, upstream_files(hooks, diffs))
        done, before = set(), {}
        for name, msg in series:
            done.add(name)
            files = desired_files(done)
            if files == before:
                continue
            before = files
            for path, data in files.items():
                write_if_changed(os.path.join(work, path), data)
            git(work, 'add', '-A')
            git(work, 'commit', '-q', '-s', '-F', '-', input=msg.encode())
        n = int(git(work, 'rev-list', '--count', 'HEAD').strip()) - 1
        git(work, 'format-patch', '-q', '--cover-letter', '-o', outdir,
            'HEAD~%d' % n)
    fill_cover(outdir)
    print('  PATCHES %d patch(es) in %s' % (n, outdir))


def fill_cover(outdir):
    cover = os.path.join(outdir, '0000-cover-letter.patch')
    with open(os.path.join(TOP, 'scripts', 'cover-letter')) as f:
        subject, _, blurb = f.read().partition('\n')
    text = open(cover).read()
    text = text.replace('*** SUBJECT HERE ***', subject.strip())
    text = text.replace('*** BLURB HERE ***', blurb.strip())
    open(cover, 'w').write(text)


def verify_patches(outdir):
    """git am the series onto pristine copies, compare with the build tree."""
    maps, hooks, diffs = load_table()
    tree = build_dir()
    outdir = os.path.abspath(outdir)
    series = sorted(f for f in os.listdir(outdir)
                    if f.endswith('.patch') and not f.startswith('0000-'))
    with tempfile.TemporaryDirectory(dir=BUILD) as work:
        base_repo(work, upstream_files(hooks, diffs))
        git(work, 'am', '-q', *[os.path.join(outdir, p) for p in series])
        changed = git(work, 'diff', '--name-only', 'HEAD~%d' % len(series),
                      'HEAD').split()
        bad = [f for f in changed
               if read(os.path.join(work, f)) != read(os.path.join(tree, f))]
    if bad or not changed:
        die('series does not reproduce the build tree: %s' % ' '.join(bad))
    print('  VERIFY  %d patch(es) apply with git am; %d file(s) match the '
          'build tree' % (len(series), len(changed)))


def main():
    if len(sys.argv) < 2:
        die(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'prepare':
        prepare()
    elif cmd == 'overlay':
        overlay()
    elif cmd == 'patches':
        patches(args[0] if args else os.path.join(TOP, 'patches'))
    elif cmd == 'verify-patches':
        verify_patches(args[0] if args else os.path.join(TOP, 'patches'))
    elif cmd == 'rediff':
        rediff(args[0], args[1:])
    elif cmd == 'suites':
        for i, (name, ks) in enumerate(load_series(suites=True), 1):
            print(i, name, *ks)
    elif cmd == 'diffed':
        for d, _ in load_table()[2]:
            print('\n'.join(diff_files(d)))
    elif cmd == 'added-lines':
        added_lines()
    elif cmd == 'map':
        maps, _, _ = load_table()
        for a in args:
            print(map_path(maps, a)[0] or '')
    elif cmd == 'where':
        print(pristine_dir())
        print(build_dir())
    else:
        die('unknown command %s' % cmd)


if __name__ == '__main__':
    main()
