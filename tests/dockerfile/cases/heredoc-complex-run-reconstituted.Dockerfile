FROM scratch
RUN cat <<A >/x && cat <<B
aaa
A
bbb
B
