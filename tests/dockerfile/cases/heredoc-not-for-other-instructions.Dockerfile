FROM scratch
LABEL a=<<EOF
ENV b=1
