# bash completion for hpt (installed by hpt-client as
# /usr/share/bash-completion/completions/hpt). The commands and options
# are those of `hpt --help`; tests/integration/test_ops_units.py checks
# that the two agree.
_hpt()
{
    local cur prev
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local global="--master --project --ca-cert --help --version"
    case "$prev" in
        --config|--ca-cert) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "json yaml" -- "$cur")); return ;;
        --role) COMPREPLY=($(compgen -W "viewer user admin" -- "$cur")); return ;;
    esac
    local words=() w
    for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
        case "$w" in -*) ;; *) words+=("$w") ;; esac
    done
    local options
    case "${words[0]} ${words[1]}" in
        "validate "*) options="--config --format --module-name --package-path --master-image-uri" ;;
        "jobs submit") options="training --config --stream-logs --async --format --module-name --package-path --packages --job-dir --scale-tier --master-machine-type --worker-machine-type --parameter-server-machine-type --worker-count --parameter-server-count --master-image-uri --worker-image-uri --parameter-server-image-uri --master-accelerator --worker-accelerator --parameter-server-accelerator --labels --region --runtime-version --python-version --staging-bucket" ;;
        "jobs describe") options="--format --summarize" ;;
        "jobs list") options="--filter --sort-by --page-size --limit --uri --format" ;;
        "jobs update") options="--update-labels --remove-labels --clear-labels --format" ;;
        "jobs cancel") options="" ;;
        "jobs stream-logs") options="--trial --task-name --polling-interval --allow-multiline-logs" ;;
        "jobs ") options="submit describe list update cancel stream-logs" ;;
        "nodes list") options="--page-size --format" ;;
        "nodes describe") options="--format" ;;
        "nodes drain") options="--reason --now" ;;
        "nodes undrain"|"nodes delete") options="" ;;
        "nodes ") options="list describe drain undrain delete" ;;
        "auth whoami") options="--format" ;;
        "auth ") options="whoami" ;;
        "users list") options="--format" ;;
        "users revoke"|"users token") options="" ;;
        "users add") options="--role" ;;
        "users ") options="list add revoke token" ;;
        "audit list") options="--after --limit --format" ;;
        "audit ") options="list" ;;
        " ") options="validate jobs nodes auth users audit $global" ;;
    esac
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
}
complete -F _hpt hpt
