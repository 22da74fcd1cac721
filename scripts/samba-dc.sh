#!/bin/bash
# A throwaway Samba AD DC on 127.0.0.1 for the test suite: provision into DIR, start, stop, status.
# Never touches /etc (own smb.conf, krb5.conf, GNUPGHOME) and never puts a password on a command line.
#
#   scripts/samba-dc.sh start DIR    provision (first time) + start + fixtures, then write DIR/env.json
#   scripts/samba-dc.sh stop DIR     TERM (then KILL) the samba PID, stop DIR's gpg-agent
#   scripts/samba-dc.sh status DIR   exit 0 when DIR's DC is running and answering LDAP
#
# One DC per machine: ports (88, 389, 636, ...) and smbd's winbind socket (/run/samba/winbindd) are fixed
# on every host, so a second DIR cannot start while another runs.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
CONF=$DIR/etc/smb.conf
PIDFILE=$DIR/samba.pid
# Which DIR owns the machine's one DC, so a clash can name it.
OWNER=/run/samba/pwsync-dc.dir
export KRB5_CONFIG=$DIR/krb5.conf GNUPGHOME=$DIR/gnupg
# Samba's modules print to stdout/stderr; keep python from writing .pyc into system dirs.
export PYTHONDONTWRITEBYTECODE=1

log() { echo "samba-dc: $*" >&2; }
die() { log "ERROR: $*"; [ -f "$DIR/log/samba.out" ] && { log "--- tail of $DIR/log/samba.out"; tail -n 30 "$DIR/log/samba.out" >&2; }; exit 1; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
ldap_answers() { ldapsearch -LLL -x -H ldap://127.0.0.1 -s base -b '' dnsHostName >/dev/null 2>&1; }

# ldbmodify on the local sam.ldb (root, no network, no credentials): the way to set passwords without argv.
# It works locally, with no network, while the DC is up.
ldb_modify() { ldbmodify -H "$DIR/private/sam.ldb" >>"$DIR/log/fixtures.log" 2>&1; }
utf16_b64() { printf '"%s"' "$1" | iconv -f UTF-8 -t UTF-16LE | base64 -w0; }
new_password() { printf 'Pw1!%s' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"; }

provision() {
  log "provisioning a new DC into $DIR"
  rm -rf "$DIR/etc" "$DIR/private" "$DIR/state" "$DIR/cache" "$DIR/bind-dns" "$DIR/run" "$DIR/log" "$DIR/gnupg" "$DIR/env.json"
  mkdir -p "$DIR"/{run,log} /run/samba
  chmod 700 "$DIR"
  # No --adminpass: provision picks a random one (its log is inside DIR, 0700); we replace it below via ldbmodify.
  samba-tool domain provision --targetdir="$DIR" --realm=EXAMPLE.TEST --domain=EXAMPLE \
    --server-role=dc --host-name=dc1 --dns-backend=NONE --host-ip=127.0.0.1 \
    --option="interfaces = 127.0.0.1" --option="bind interfaces only = yes" \
    --option="pid directory = $DIR/run" --option="ncalrpc dir = $DIR/run/ncalrpc" \
    --option="ntp signd socket directory = $DIR/run/ntp_signd" --option="log file = $DIR/log/log.%m" \
    --option="load printers = no" --option="printing = bsd" --option="printcap name = /dev/null" \
    --option="disable spoolss = yes" \
    --option="server services = -dns -nbt -wrepl -ntp_signd -dnsupdate -kcc -drepl" \
    >"$DIR/log/provision.log" 2>&1 || { tail -n 30 "$DIR/log/provision.log" >&2; die "provision failed"; }
  # The generated krb5.conf relies on DNS SRV records; point Kerberos at the loopback KDC instead.
  printf '[libdefaults]\n\tdefault_realm = EXAMPLE.TEST\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\trdns = false\n[realms]\n\tEXAMPLE.TEST = {\n\t\tkdc = 127.0.0.1\n\t\tadmin_server = 127.0.0.1\n\t\tkpasswd_server = 127.0.0.1\n\t}\n' >"$DIR/krb5.conf"
  # GPG key: Samba then keeps an encrypted cleartext (Primary:SambaGPG) for every user, which
  # `samba-tool user syncpasswords --decrypt-samba-gpg` hands to the capture hook (docs/operations-samba.md, "Option A").
  mkdir -p -m 700 "$GNUPGHOME"
  gpg --batch --passphrase '' --quick-gen-key 'Samba PW Sync <sync@example.test>' rsa2048 encr never >/dev/null 2>&1 \
    || die "gpg key generation failed"
  local fpr
  fpr=$(gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')
  [ -n "$fpr" ] || die "no gpg fingerprint"
  # provision silently drops some --option values; options it does not write must be added afterwards.
  # Strong auth stays at its default (yes): simple binds work over LDAPS and StartTLS, never in clear text.
  sed -i "s|^\[global\]|[global]\n\tpassword hash gpg key ids = $fpr|" "$CONF"
  # Default minimum age (1 day) and history (24) would block the tests' repeated password changes.
  samba-tool domain passwordsettings set -s "$CONF" --min-pwd-age=0 --history-length=0 >>"$DIR/log/provision.log" 2>&1 \
    || die "passwordsettings failed"
  new_password >"$DIR/admin-password"; chmod 600 "$DIR/admin-password"
  new_password >"$DIR/reader-password"; chmod 600 "$DIR/reader-password"
  printf 'dn: CN=Administrator,CN=Users,DC=example,DC=test\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n' \
    "$(utf16_b64 "$(cat "$DIR/admin-password")")" | ldb_modify || die "setting the Administrator password failed"
}

fixtures() {
  [ -f "$DIR/fixtures.done" ] && return 0
  log "creating fixtures (OU=Staff: alice bob carol, group PwsyncUsers; OU=Outside: mallory; pwsync-reader)"
  local st=(-s "$CONF")
  {
    samba-tool ou create OU=Staff "${st[@]}"
    samba-tool ou create OU=Outside "${st[@]}"
    # --random-password: initial passwords never appear in argv; tests set known ones over LDAPS (unicodePwd).
    samba-tool user create alice --random-password --userou=OU=Staff --given-name=Alice --surname=Smith "${st[@]}"
    samba-tool user create bob --random-password --userou=OU=Staff --given-name=Bob --surname=Jones "${st[@]}"
    samba-tool user create carol --random-password --userou=OU=Staff --given-name=Carol --surname=White "${st[@]}"
    samba-tool user create mallory --random-password --userou=OU=Outside --given-name=Mallory --surname=Evil "${st[@]}"
    samba-tool user create pwsync-reader --random-password --given-name=Pwsync --surname=Reader "${st[@]}"
    samba-tool group add PwsyncUsers --groupou=OU=Staff "${st[@]}"
    samba-tool group addmembers PwsyncUsers alice,bob,carol "${st[@]}"
  } >>"$DIR/log/fixtures.log" 2>&1 || die "fixture creation failed (see $DIR/log/fixtures.log)"
  {
    for u in "Alice Smith:E1001" "Bob Jones:E1002" "Carol White:E1003"; do
      printf 'dn: CN=%s,OU=Staff,DC=example,DC=test\nchangetype: modify\nreplace: employeeID\nemployeeID: %s\n\n' "${u%%:*}" "${u##*:}"
    done
    printf 'dn: CN=Mallory Evil,OU=Outside,DC=example,DC=test\nchangetype: modify\nreplace: employeeID\nemployeeID: E6666\n\n'
    printf 'dn: CN=Pwsync Reader,CN=Users,DC=example,DC=test\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n\n' \
      "$(utf16_b64 "$(cat "$DIR/reader-password")")"
  } | ldb_modify || die "fixture attributes failed (see $DIR/log/fixtures.log)"
  touch "$DIR/fixtures.done"
}

write_env() {
  # JSON by hand: every value here is plain ASCII without quotes or backslashes (paths under DIR, generated passwords).
  local tmp=$DIR/env.json.tmp
  umask 077
  cat >"$tmp" <<JSON
{
  "dir": "$DIR",
  "smbConf": "$CONF",
  "krb5Conf": "$DIR/krb5.conf",
  "gnupgHome": "$GNUPGHOME",
  "host": "127.0.0.1",
  "ldapsPort": 636,
  "ldapPort": 389,
  "baseDn": "DC=example,DC=test",
  "adminDn": "Administrator@example.test",
  "adminPassword": "$(cat "$DIR/admin-password")",
  "readerDn": "pwsync-reader@example.test",
  "readerPassword": "$(cat "$DIR/reader-password")",
  "caFile": "$DIR/private/tls/ca.pem",
  "tlsServername": "DC1.example.test",
  "realm": "EXAMPLE.TEST",
  "pid": $(cat "$PIDFILE")
}
JSON
  mv "$tmp" "$DIR/env.json"
}

start() {
  mkdir -p /run/samba
  if running; then
    log "already running (pid $(cat "$PIDFILE"))"
    fixtures; write_env; return 0
  fi
  if [ -f "$OWNER" ] && [ "$(cat "$OWNER")" != "$DIR" ] && [ -f "$(cat "$OWNER")/samba.pid" ] \
     && kill -0 "$(cat "$(cat "$OWNER")/samba.pid")" 2>/dev/null; then
    die "another DC is running from $(cat "$OWNER") (one DC per machine): stop it, or reuse it with PWSYNC_TEST_DC=$(cat "$OWNER")/env.json"
  fi
  if ldap_answers; then die "something already answers LDAP on 127.0.0.1:389 (one DC per machine)"; fi
  [ -f "$CONF" ] && [ -f "$DIR/admin-password" ] || provision
  mkdir -p "$DIR/log" "$DIR/run"
  # Foreground daemon as a background job; GNUPGHOME (exported above) must be in its environment so LDAP and
  # kpasswd changes get the GPG-encrypted cleartext too. setsid: a Ctrl-C in the test runner's terminal must
  # not reach samba before `stop` does.
  setsid samba -F --no-process-group -s "$CONF" --debug-stdout -d1 </dev/null >"$DIR/log/samba.out" 2>&1 &
  echo $! >"$PIDFILE"
  echo "$DIR" >"$OWNER"
  local i
  for ((i = 0; i < 600; i++)); do          # bounded: 600 x 0.1 s = 60 s
    running || die "samba exited during start-up"
    if ldap_answers && wbinfo -p >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  ((i < 600)) || { stop_dc; die "DC did not answer LDAP and winbind within 60 s"; }
  fixtures
  write_env
  log "running (pid $(cat "$PIDFILE")), env: $DIR/env.json"
}

stop_dc() {
  if [ -f "$PIDFILE" ]; then
    local pid i
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # ~2 s is normal
      if kill -0 "$pid" 2>/dev/null; then log "samba $pid ignored TERM for 10 s: KILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$PIDFILE"
  fi
  # gpg/gpgme started an agent for this GNUPGHOME; it would outlive the DC otherwise.
  [ -d "$GNUPGHOME" ] && gpgconf --homedir "$GNUPGHOME" --kill gpg-agent >/dev/null 2>&1 || true
  [ -f "$OWNER" ] && [ "$(cat "$OWNER")" = "$DIR" ] && rm -f "$OWNER"
  return 0
}

case $CMD in
  start) start ;;
  stop) stop_dc; log "stopped ($DIR)" ;;
  status) if running && ldap_answers; then echo "running pid $(cat "$PIDFILE")"; else echo "stopped"; exit 1; fi ;;
  *) usage ;;
esac
