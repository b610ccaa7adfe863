#!/bin/sh
# Give a gateway its broker account: user name = its gateway_id (as `medfix cloud gateway add` registered
# it), a new random password, printed once for the gateway's config:
#   cloud.url: mqtts://<gateway_id>:<password>@mqtt.example.cn:8883
# Run as root on the broker host. Re-running it replaces the password (rotation); `mosquitto_passwd -D
# /etc/mosquitto/medfix.passwd <gateway_id>` removes a gateway. Mosquitto re-reads the file on SIGHUP,
# sent to the broker named by its pid file (Debian's: /run/mosquitto/mosquitto.pid), not to every mosquitto.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 GATEWAY_ID" >&2
  exit 2
fi
gateway=$1
# The same rule as protocols/telemetry.py: the name becomes a topic level, so no / + # or spaces.
case "$gateway" in
  *[!A-Za-z0-9._-]*|'') echo "gateway_id may hold letters, digits, . _ - only" >&2; exit 2 ;;
esac
if [ "$gateway" = medfix-cloud ]; then
  echo "medfix-cloud is the cloud's own account" >&2
  exit 2
fi
file=${MOSQUITTO_PASSWD:-/etc/mosquitto/medfix.passwd}
password=$(openssl rand -hex 24)
[ -f "$file" ] || install -m 0640 -o root -g mosquitto /dev/null "$file"
mosquitto_passwd -b "$file" "$gateway" "$password"
pid_file=${MOSQUITTO_PID_FILE:-/run/mosquitto/mosquitto.pid}
if [ -s "$pid_file" ]; then
  kill -HUP "$(cat "$pid_file")"
else
  echo "no $pid_file: reload the broker yourself (systemctl reload mosquitto)" >&2
fi
echo "broker password of $gateway (shown once): $password"
