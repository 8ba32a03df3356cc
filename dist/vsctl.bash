# bash completion for vsctl (installed by `make install` as
# share/bash-completion/completions/vsctl).
#
# Everything is asked of vsctl itself, so that the completion never lags
# behind it: the commands from `vsctl help`, each command's options from
# `vsctl help COMMAND`, instance and template names from the daemon
# (`vsctl list`, `vsctl template list`, on the --socket given on the line
# or $VSD_SOCKET).  Without access to the daemon there are simply no names.

# _vsctl_run ARGS...: vsctl with the socket of the line being completed;
# never waits long, never prints an error into the terminal.
_vsctl_run() {
        local vsctl=${COMP_WORDS[0]:-vsctl}
        [[ $vsctl == */* || -n $(type -P "$vsctl") ]] || vsctl=vsctl
        # the program, not a function or alias of that name
        command "$vsctl" "${_vsctl_sock[@]}" --timeout 2 "$@" 2>/dev/null || true
}

# The first column of a table vsctl printed, header left out.
_vsctl_names() {
        _vsctl_run "$@" | awk 'NR == 1 && $1 == "NAME" { next } NF { print $1 }'
}

_vsctl_commands() {
        _vsctl_run help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }'
}

# Options of COMMAND, from its help: every --word and -letter at the start
# of an option line (or after a comma on it).
_vsctl_options() {
        _vsctl_run help "$1" | grep -E '^  +-' |
                grep -oE '(^|[ ,])--?[a-zA-Z][a-z-]*' | tr -d ' ,' | sort -u
        echo --help
}

# Does OPTION of COMMAND take a value?  Its help line shows one after it:
# "--memory SIZE", "--isolated yes|no", "--rlimit NAME=SOFT[:HARD]".
_vsctl_takes_value() {
        _vsctl_run help "$1" | grep -qE -- "(^|[ ,])$2 ([A-Z]|[a-z]+\\|)"
}

_vsctl() {
        local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        local i cmd= cmdi=0
        _vsctl_sock=()
        COMPREPLY=()

        # the global options, up to the command's name
        for ((i = 1; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                -s | --socket)
                        _vsctl_sock=(--socket "${COMP_WORDS[i + 1]}")
                        i=$((i + 1))
                        ;;
                --socket=*) _vsctl_sock=(--socket "${COMP_WORDS[i]#--socket=}") ;;
                --timeout) i=$((i + 1)) ;;
                -*) ;;
                *)
                        cmd=${COMP_WORDS[i]}
                        cmdi=$i
                        break
                        ;;
                esac
        done
        if [ -z "$cmd" ]; then
                case $prev in
                -s | --socket)
                        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                        return 0
                        ;;
                --timeout) return 0 ;;
                esac
                if [[ $cur == -* ]]; then
                        mapfile -t COMPREPLY < <(compgen -W "--socket --timeout --json --help --version" -- "$cur")
                else
                        mapfile -t COMPREPLY < <(compgen -W "$(_vsctl_commands)" -- "$cur")
                fi
                return 0
        fi

        # after "exec NAME --": the command inside is not ours to complete
        for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
                [ "${COMP_WORDS[i]}" != -- ] || return 0
        done

        # the value of an option
        if [[ $prev == -* ]] && _vsctl_takes_value "$cmd" "$prev"; then
                local words=
                case $prev in
                --template) words=$(_vsctl_names template list) ;;
                --sort) words="name cpu mem mem% pids swap throttled io net disk" ;;
                --net) words="bridge routed none" ;;
                --storage) words="image dir" ;;
                --isolated) words="yes no" ;;
                --onboot) words="yes no auto" ;;
                --from) words="busybox debian" ;;
                *) return 0 ;;
                esac
                mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
                return 0
        fi
        if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$(_vsctl_options "$cmd")" -- "$cur")
                return 0
        fi

        # the how-many-th word of the command's own (options and their
        # values left out)
        local n=0
        for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
                if [[ ${COMP_WORDS[i]} == -* ]]; then
                        if _vsctl_takes_value "$cmd" "${COMP_WORDS[i]}"; then
                                i=$((i + 1))
                        fi
                        continue
                fi
                n=$((n + 1))
        done
        local words=
        case $cmd in
        help) [ "$n" -gt 0 ] || words=$(_vsctl_commands) ;;
        template)
                if [ "$n" -eq 0 ]; then
                        words="list build remove"
                elif [ "$n" -eq 1 ] && [ "${COMP_WORDS[cmdi + 1]}" = remove ]; then
                        words=$(_vsctl_names template list)
                fi
                ;;
        op) [ "$n" -gt 0 ] || words="list show wait cancel" ;;
        create | list | templates | version) ;;
        *)
                # every other command names an instance first
                [ "$n" -gt 0 ] || words=$(_vsctl_names list)
                ;;
        esac
        if [ -n "$words" ]; then
                mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
        fi
        return 0
}

complete -F _vsctl vsctl
