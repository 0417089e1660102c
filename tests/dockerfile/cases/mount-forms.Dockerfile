FROM scratch
WORKDIR /w
RUN --mount=type=cache,target=rel/../c,sharing=LOCKED,uid=1000,gid=1000,mode=0700 \
    --mount=type=secret,id=tok,required,env=TOKEN \
    --mount=type=secret,src=/run/x/key \
    --mount=type=ssh \
    --mount=type=bind,from=base,source=/src,target=/dst,rw \
    --mount=TYPE=TMPFS,DST=/tmp,size=64k true
