FROM scratch
COPY <<A <<'B' /dir/
a1
A
b1 $Y
B
