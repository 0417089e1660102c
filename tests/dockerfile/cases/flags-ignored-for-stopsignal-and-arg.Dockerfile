FROM scratch
STOPSIGNAL --whatever SIGTERM
